namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        // Values of Linux's asm-generic headers, the same on x86-64, arm64 and arm (fcntl.h, termbits.h, ioctls.h,
        // poll.h, errno.h). Native names kept verbatim.
        internal const int O_NOCTTY = 0x100;

        internal const int TCSANOW = 0;
        internal const int TCIOFLUSH = 2;
        internal const uint CLOCAL = 0x800;
        internal const uint CREAD = 0x80;
        internal const int VMIN = 6;
        internal const int VTIME = 5;

        internal const nuint TIOCMBIS = 0x5416;
        internal const int TIOCM_DTR = 0x002;

        internal const short POLLOUT = 0x4;

        internal const int EINTR = 4;
        internal const int EIO = 5;
        internal const int EAGAIN = 11;

        /// <summary>The termios <c>speed_t</c> constant of <paramref name="baud"/> (termbits.h), or 0 when Linux has none.</summary>
        internal static uint BaudConstant(int baud) => baud switch
        {
            1200 => 0x9,
            2400 => 0xB,
            4800 => 0xC,
            9600 => 0xD,
            19200 => 0xE,
            38400 => 0xF,
            57600 => 0x1001,
            115200 => 0x1002,
            230400 => 0x1003,
            460800 => 0x1004,
            500000 => 0x1005,
            576000 => 0x1006,
            921600 => 0x1007,
            1000000 => 0x1008,
            1152000 => 0x1009,
            1500000 => 0x100A,
            2000000 => 0x100B,
            2500000 => 0x100C,
            3000000 => 0x100D,
            3500000 => 0x100E,
            4000000 => 0x100F,
            _ => 0,
        };
    }
}
