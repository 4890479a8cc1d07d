using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// The message of the last error on <paramref name="handle"/> (or of the last failed tjInit* call on this
        /// thread when <paramref name="handle"/> is null), from <c>tjGetErrorStr2</c>.
        /// </summary>
        internal static unsafe string GetErrorString(SafeTurboJpegHandle? handle)
        {
            // The returned buffer belongs to the library (the instance's or a thread-local one): read, never free.
            var message = handle is null ? tjGetErrorStr2(IntPtr.Zero) : tjGetErrorStr2(handle);
            return message is null ? "unknown libjpeg-turbo error" : Marshal.PtrToStringUTF8((nint)message) ?? string.Empty;
        }

        /// <summary><c>char *tjGetErrorStr2(tjhandle handle)</c>; private because the string must not be freed.</summary>
        [LibraryImport(Libraries.TurboJpeg)]
        private static unsafe partial byte* tjGetErrorStr2(SafeTurboJpegHandle handle);

        [LibraryImport(Libraries.TurboJpeg, EntryPoint = "tjGetErrorStr2")]
        private static unsafe partial byte* tjGetErrorStr2(nint handle);

        /// <summary><c>int tjGetErrorCode(tjhandle handle)</c>: TJERR_WARNING or TJERR_FATAL for the last failed call.</summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static partial int tjGetErrorCode(SafeTurboJpegHandle handle);
    }
}
