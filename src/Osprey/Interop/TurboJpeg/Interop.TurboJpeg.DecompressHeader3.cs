using System.Runtime.InteropServices;

using unsigned_long = nuint; // C unsigned long: 64-bit on LP64 Linux, 32-bit on ARM32 Linux, as nuint

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// <c>int tjDecompressHeader3(tjhandle handle, const unsigned char *jpegBuf, unsigned long jpegSize,
        /// int *width, int *height, int *jpegSubsamp, int *jpegColorspace)</c>: 0, or -1 (a warning still fills
        /// the outputs: check tjGetErrorCode). Returns 0 without touching the outputs for a tables-only stream.
        /// </summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static unsafe partial int tjDecompressHeader3(
            SafeTurboJpegHandle handle,
            byte* jpegBuf,
            unsigned_long jpegSize,
            int* width,
            int* height,
            int* jpegSubsamp,
            int* jpegColorspace);
    }
}
