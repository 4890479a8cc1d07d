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
        /// The C library by its glibc soname: termios and open/read/write/poll for serial devices, open, ioctl,
        /// mmap and poll for V4L2.
        /// </summary>
        internal const string Libc = "libc.so.6";
    }
}
