using System.Runtime.InteropServices;

using unsigned_long = nuint; // C unsigned long: 64-bit on LP64 Linux, 32-bit on ARM32 Linux, as nuint

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// <c>unsigned long tjBufSize(int width, int height, int jpegSubsamp)</c>: the worst-case JPEG size, and
        /// (with TJFLAG_NOREALLOC) the size the compressor assumes the caller's buffer has, whatever it is told.
        /// (unsigned long)-1 for bad arguments.
        /// </summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static partial unsigned_long tjBufSize(int width, int height, int jpegSubsamp);
    }
}
