using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// A file descriptor from <c>open</c>, closed with <c>close</c> exactly once, after the last call that uses
        /// it has returned (SafeHandle's reference counting), so a device closed during a capture run can never
        /// have its number reused under an ioctl still in flight.
        /// </summary>
        internal sealed class SafeFileDescriptor : SafeHandle
        {
            /// <summary>Takes ownership of <paramref name="descriptor"/> (negative: invalid, nothing to close).</summary>
            public SafeFileDescriptor(int descriptor)
                : base(-1, ownsHandle: true)
            {
                SetHandle(descriptor);
            }

            public override bool IsInvalid => handle < 0;

            // close's error is not retried on EINTR: Linux releases the descriptor before reporting it.
            protected override bool ReleaseHandle() => close((int)handle) == 0;
        }
    }
}
