using System.Runtime.InteropServices;

// C type names kept verbatim, so the declaration reads as the prototype.
#pragma warning disable CS8981
using nfds_t = nuint;
#pragma warning restore CS8981

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        // poll.h, the same on every Linux architecture.
        internal const short POLLIN = 0x001;
        internal const short POLLPRI = 0x002;
        internal const short POLLERR = 0x008;
        internal const short POLLHUP = 0x010;
        internal const short POLLNVAL = 0x020;

        /// <summary><c>struct pollfd</c>: 8 bytes on every Linux architecture.</summary>
        [StructLayout(LayoutKind.Sequential)]
#pragma warning disable CS8981 // native name kept verbatim
        internal struct pollfd
#pragma warning restore CS8981
        {
            public int fd;
            public short events;
            public short revents;
        }

        /// <summary><c>int poll(struct pollfd *fds, nfds_t nfds, int timeout)</c>: ready count, 0 on timeout, -1 and errno.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
        internal static unsafe partial int poll(pollfd* fds, nfds_t nfds, int timeout);
    }
}
