using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary>
        /// A <c>tjhandle</c> (a compressor or decompressor instance), destroyed with <c>tjDestroy</c>. NULL is what
        /// tjInitCompress/tjInitDecompress return on failure.
        /// </summary>
        internal sealed class SafeTurboJpegHandle : SafeHandle
        {
            /// <summary>Called by the interop marshaller for the handle a tjInit* function returns.</summary>
            public SafeTurboJpegHandle()
                : base(IntPtr.Zero, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == IntPtr.Zero;

            protected override bool ReleaseHandle() => tjDestroy(handle) == 0;
        }
    }
}
