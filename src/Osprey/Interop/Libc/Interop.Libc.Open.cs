using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        // fcntl.h, the same on x86-64, arm64 and 32-bit ARM.
        internal const int O_RDWR = 0x2;
        internal const int O_NONBLOCK = 0x800;
        internal const int O_CLOEXEC = 0x80000;

        /// <summary><c>int open(const char *pathname, int flags)</c>; an invalid handle and errno on failure.</summary>
        /// <remarks>
        /// The import returns the raw int: marshalled straight into a SafeHandle, open's 32-bit -1 was widened to
        /// 4294967295, a "valid" handle, so a missing device surfaced later as EBADF from the next call.
        /// </remarks>
        internal static SafeFileDescriptor open(string pathname, int flags) => new(OpenDescriptor(pathname, flags));

        [LibraryImport(Libraries.Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int OpenDescriptor(string pathname, int flags);

        /// <summary><c>int close(int fd)</c>; raw descriptor because only <see cref="SafeFileDescriptor"/> calls it.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
        internal static partial int close(int fd);
    }
}
