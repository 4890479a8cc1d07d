using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class V4L2
    {
        /// <summary><c>struct v4l2_queryctrl</c> (VIDIOC_QUERYCTRL): 68 bytes, the fallback for old drivers.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_queryctrl
        {
            public uint id;
            public uint type;
            public fixed byte name[32];
            public int minimum;
            public int maximum;
            public int step;
            public int default_value;
            public uint flags;
            public fixed uint reserved[2];
        }

        /// <summary><c>struct v4l2_query_ext_ctrl</c> (VIDIOC_QUERY_EXT_CTRL): 232 bytes, 64-bit ranges.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_query_ext_ctrl
        {
            public uint id;
            public uint type;
            public fixed byte name[32];
            public long minimum;
            public long maximum;
            public ulong step;
            public long default_value;
            public uint flags;
            public uint elem_size;
            public uint elems;
            public uint nr_of_dims;
            public fixed uint dims[4];
            public fixed uint reserved[32];
        }

        /// <summary><c>struct v4l2_control</c> (VIDIOC_G_CTRL/S_CTRL): 8 bytes. The control framework serves every class through it.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct v4l2_control
        {
            public uint id;
            public int value;
        }
    }
}
