namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>errno values (asm-generic/errno-base.h and errno.h), the same on x86-64, arm64 and 32-bit ARM.</summary>
        internal static class Errors
        {
            internal const int EPERM = 1;
            internal const int ENOENT = 2;
            internal const int EINTR = 4;
            internal const int EIO = 5;
            internal const int ENXIO = 6;
            internal const int EBADF = 9;
            internal const int EAGAIN = 11;
            internal const int ENOMEM = 12;
            internal const int EACCES = 13;
            internal const int EBUSY = 16;
            internal const int ENODEV = 19;
            internal const int EINVAL = 22;
            internal const int ENOTTY = 25;
            internal const int ENOSPC = 28;
            internal const int EPIPE = 32;
            internal const int ERANGE = 34;
            internal const int ETIMEDOUT = 110;

            /// <summary>The C library's message for <paramref name="errno"/>, e.g. "No such device".</summary>
            internal static string Describe(int errno) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
        }
    }
}
