using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>int ioctl(int fd, unsigned long request, void *argp)</c>: <c>unsigned long</c> is 64 bits on LP64
        /// (x86-64, arm64) and 32 on 32-bit ARM, hence <see cref="nuint"/>. -1 and errno on failure.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static unsafe partial int ioctl(SafeFileDescriptor fd, nuint request, void* argp);

        /// <summary>
        /// ioctl retried while it is interrupted by a signal (EINTR): returns 0, or the errno it failed with. The
        /// argument is pinned by the caller's <c>ref</c> for the length of the call; nothing is marshalled.
        /// </summary>
        internal static unsafe int IoctlRetrying<T>(SafeFileDescriptor fd, uint request, ref T argument)
            where T : unmanaged
        {
            fixed (T* pointer = &argument)
            {
                while (true)
                {
                    if (ioctl(fd, request, pointer) != -1)
                    {
                        return 0;
                    }

                    var errno = Marshal.GetLastPInvokeError();
                    if (errno != Errors.EINTR)
                    {
                        return errno;
                    }
                }
            }
        }
    }
}
