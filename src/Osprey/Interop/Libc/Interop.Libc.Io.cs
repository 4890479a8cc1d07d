using System.Runtime.InteropServices;

// Native type names kept verbatim (CS8981 warns about all-lower-case type names).
#pragma warning disable CS8981

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>ssize_t read(int fd, void *buf, size_t count)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        private static unsafe partial nint read(SafeHandle fd, byte* buf, nuint count);

        /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c></summary>
        [LibraryImport(Libraries.Libc, SetLastError = true)]
        private static unsafe partial nint write(SafeHandle fd, byte* buf, nuint count);

        /// <summary>Opens <paramref name="path"/>; the handle closes the descriptor. Invalid on failure (see the last error).</summary>
        internal static SafeFileDescriptor Open(string path, int flags) => open(path, flags);

        /// <summary>read(2) into <paramref name="buffer"/>; -1 with the last error set on failure.</summary>
        internal static unsafe nint Read(SafeHandle fd, Span<byte> buffer)
        {
            fixed (byte* pointer = buffer)
            {
                return read(fd, pointer, (nuint)buffer.Length);
            }
        }

        /// <summary>write(2) from <paramref name="buffer"/>; -1 with the last error set on failure.</summary>
        internal static unsafe nint Write(SafeHandle fd, ReadOnlySpan<byte> buffer)
        {
            fixed (byte* pointer = buffer)
            {
                return write(fd, pointer, (nuint)buffer.Length);
            }
        }

        /// <summary>poll(2) on one descriptor; returns revents (0 on timeout) or -1 with the last error set.</summary>
        internal static unsafe int PollOne(SafeHandle fd, short events, int timeoutMilliseconds)
        {
            var added = false;
            fd.DangerousAddRef(ref added);
            try
            {
                var entry = new pollfd { fd = (int)fd.DangerousGetHandle(), events = events };
                var result = poll(&entry, 1, timeoutMilliseconds);
                return result < 0 ? -1 : result == 0 ? 0 : entry.revents;
            }
            finally
            {
                if (added)
                {
                    fd.DangerousRelease();
                }
            }
        }
    }
}
