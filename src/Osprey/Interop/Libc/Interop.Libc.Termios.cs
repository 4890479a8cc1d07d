using System.Runtime.InteropServices;

// Native type names kept verbatim (CS8981 warns about all-lower-case type names).
#pragma warning disable CS8981

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// glibc's <c>struct termios</c> on Linux (bits/termios-struct.h): 4 × tcflag_t, c_line, c_cc[32],
        /// c_ispeed, c_ospeed; 60 bytes on every Linux ABI glibc supports. Only the flags and c_cc are touched
        /// directly; speeds go through cfset*speed.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct termios
        {
            public uint c_iflag;
            public uint c_oflag;
            public uint c_cflag;
            public uint c_lflag;
            public byte c_line;
            public fixed byte c_cc[32];
            public uint c_ispeed;
            public uint c_ospeed;
        }

        /// <summary><c>int tcgetattr(int fd, struct termios *termios_p)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        internal static partial int tcgetattr(SafeHandle fd, out termios termios_p);

        /// <summary><c>int tcsetattr(int fd, int optional_actions, const struct termios *termios_p)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        internal static partial int tcsetattr(SafeHandle fd, int optional_actions, in termios termios_p);

        /// <summary><c>void cfmakeraw(struct termios *termios_p)</c></summary>
        [LibraryImport(Libraries.Libc)]
        internal static partial void cfmakeraw(ref termios termios_p);

        /// <summary><c>int cfsetispeed(struct termios *termios_p, speed_t speed)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        internal static partial int cfsetispeed(ref termios termios_p, uint speed);

        /// <summary><c>int cfsetospeed(struct termios *termios_p, speed_t speed)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        internal static partial int cfsetospeed(ref termios termios_p, uint speed);

        /// <summary><c>int tcflush(int fd, int queue_selector)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        internal static partial int tcflush(SafeHandle fd, int queue_selector);

        /// <summary>
        /// <c>int ioctl(int fd, unsigned long request, int *arg)</c>, for TIOCMBIS. The variadic C prototype is
        /// declared with its one pointer argument, which the Linux x86-64 and AArch64 calling conventions pass
        /// the same way.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int ioctl_int(SafeHandle fd, nuint request, ref int arg);
    }
}
