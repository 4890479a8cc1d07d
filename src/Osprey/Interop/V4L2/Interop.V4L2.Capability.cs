using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class V4L2
    {
        /// <summary><c>struct v4l2_capability</c> (VIDIOC_QUERYCAP): 104 bytes on every architecture.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_capability
        {
            public fixed byte driver[16];
            public fixed byte card[32];
            public fixed byte bus_info[32];
            public uint version;
            public uint capabilities;
            public uint device_caps;
            public fixed uint reserved[3];
        }

        /// <summary>A NUL-terminated (or full) fixed char array from a V4L2 struct, decoded as UTF-8.</summary>
        internal static unsafe string DecodeName(byte* name, int capacity)
        {
            var span = new ReadOnlySpan<byte>(name, capacity);
            var end = span.IndexOf((byte)0);
            return System.Text.Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
        }
    }
}
