using System.Runtime.InteropServices;

using unsigned_long = nuint; // C unsigned long: 64-bit on LP64 Linux, 32-bit on ARM32 Linux, as nuint

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// <c>int tjDecompressToYUVPlanes(tjhandle handle, const unsigned char *jpegBuf, unsigned long jpegSize,
        /// unsigned char **dstPlanes, int width, int *strides, int height, int flags)</c>: 0, or -1. A -1 with
        /// tjGetErrorCode == TJERR_WARNING means the picture was decoded from damaged data (libjpeg-turbo filled
        /// what was missing).
        /// </summary>
        /// <remarks>
        /// Plane <c>i</c> receives <c>tjPlaneHeight(i)</c> rows of <c>tjPlaneWidth(i)</c> bytes at
        /// <c>strides[i]</c>: the picture padded to whole chroma samples (e.g. an even width for 4:2:2).
        /// </remarks>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static unsafe partial int tjDecompressToYUVPlanes(
            SafeTurboJpegHandle handle,
            byte* jpegBuf,
            unsigned_long jpegSize,
            byte** dstPlanes,
            int width,
            int* strides,
            int height,
            int flags);
    }
}
