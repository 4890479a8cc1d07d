namespace Osprey;

internal static partial class Interop
{
    /// <summary>Native library names, as the dynamic loader finds them.</summary>
    internal static class Libraries
    {
        /// <summary>
        /// libjpeg-turbo's TurboJPEG API by its soname (Debian package libturbojpeg0). The unversioned
        /// libturbojpeg.so link only comes with the -dev package, so the soname is what a runtime system has.
        /// </summary>
        internal const string TurboJpeg = "libturbojpeg.so.0";

        /// <summary>
        /// The C library (open, ioctl, mmap, poll). "libc" is what dotnet/runtime and dotnet/iot use; the runtime's
        /// probing finds glibc's libc.so.6 under it.
        /// </summary>
        internal const string Libc = "libc";
    }
}
