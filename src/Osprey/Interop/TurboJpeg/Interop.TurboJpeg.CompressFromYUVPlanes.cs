using System.Runtime.InteropServices;

using unsigned_long = nuint; // C unsigned long: 64-bit on LP64 Linux, 32-bit on ARM32 Linux, as nuint

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// <c>int tjCompressFromYUVPlanes(tjhandle handle, const unsigned char **srcPlanes, int width,
        /// const int *strides, int height, int subsamp, unsigned char **jpegBuf, unsigned long *jpegSize,
        /// int jpegQual, int flags)</c>: 0, or -1 with the reason in tjGetErrorStr2.
        /// </summary>
        /// <remarks>
        /// With TJFLAG_NOREALLOC, libjpeg-turbo 2.x sets <c>*jpegSize = tjBufSize(width, height, subsamp)</c>
        /// before it starts, ignoring the size passed in: <paramref name="jpegBuf"/> must point at that many
        /// writable bytes. It then never writes past them (a larger JPEG fails with "Buffer passed to JPEG library
        /// is too small"), and on return <c>*jpegSize</c> is the JPEG's length.
        /// </remarks>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static unsafe partial int tjCompressFromYUVPlanes(
            SafeTurboJpegHandle handle,
            byte** srcPlanes,
            int width,
            int* strides,
            int height,
            int subsamp,
            byte** jpegBuf,
            unsigned_long* jpegSize,
            int jpegQual,
            int flags);
    }
}
