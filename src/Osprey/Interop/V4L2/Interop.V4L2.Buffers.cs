using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class V4L2
    {
        /// <summary><c>struct v4l2_requestbuffers</c> (VIDIOC_REQBUFS): 20 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_requestbuffers
        {
            public uint count;
            public uint type;
            public uint memory;
            public uint capabilities;
            public byte flags;
            public fixed byte reserved[3];
        }

        /// <summary>
        /// <c>struct timeval</c>: two longs, 16 bytes on LP64. On 32-bit ARM it is 8 bytes with a 32-bit time_t, or
        /// 16 with glibc's 64-bit time_t; V4L2's 32-bit layouts follow whichever the C library uses.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
#pragma warning disable CS8981 // native name kept verbatim
        internal struct timeval
#pragma warning restore CS8981
        {
            public long tv_sec;
            public long tv_usec;
        }

        /// <summary><c>struct v4l2_timecode</c>: 16 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_timecode
        {
            public uint type;
            public uint flags;
            public byte frames;
            public byte seconds;
            public byte minutes;
            public byte hours;
            public fixed byte userbits[4];
        }

        /// <summary>The <c>m</c> union of <c>struct v4l2_buffer</c>: 8 bytes on 64-bit (a pointer and an unsigned long), 4 on 32-bit.</summary>
        [StructLayout(LayoutKind.Explicit)]
        internal struct v4l2_buffer_m
        {
            [FieldOffset(0)]
            public uint offset;

            [FieldOffset(0)]
            public nuint userptr;

            [FieldOffset(0)]
            public nint planes;

            [FieldOffset(0)]
            public int fd;
        }

        /// <summary>
        /// <c>struct v4l2_buffer</c> (VIDIOC_QUERYBUF, QBUF, DQBUF): 88 bytes on 64-bit, timestamp at 24 and
        /// <c>m</c> at 64. On 32-bit ARM it is 68 bytes (80 with a 64-bit time_t) and the request numbers differ.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct v4l2_buffer
        {
            public uint index;
            public uint type;
            public uint bytesused;
            public uint flags;
            public uint field;
            public timeval timestamp;
            public v4l2_timecode timecode;
            public uint sequence;
            public uint memory;
            public v4l2_buffer_m m;
            public uint length;
            public uint reserved2;
            public int request_fd;
        }
    }
}
