using System.Runtime.InteropServices;

namespace Osprey;

internal static partial class Interop
{
    internal static partial class V4L2
    {
        /// <summary><c>struct v4l2_fract</c>: a time per frame such as 1/30 s.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct v4l2_fract
        {
            public uint numerator;
            public uint denominator;
        }

        /// <summary><c>struct v4l2_fmtdesc</c> (VIDIOC_ENUM_FMT): 64 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_fmtdesc
        {
            public uint index;
            public uint type;
            public uint flags;
            public fixed byte description[32];
            public uint pixelformat;
            public uint mbus_code;
            public fixed uint reserved[3];
        }

        /// <summary>
        /// <c>struct v4l2_frmsizeenum</c> (VIDIOC_ENUM_FRAMESIZES): 44 bytes. The union is discrete {width, height}
        /// or stepwise {min_width, max_width, step_width, min_height, max_height, step_height}: six u32 words.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_frmsizeenum
        {
            public uint index;
            public uint pixel_format;
            public uint type;
            public fixed uint size[6];
            public fixed uint reserved[2];
        }

        /// <summary>
        /// <c>struct v4l2_frmivalenum</c> (VIDIOC_ENUM_FRAMEINTERVALS): 52 bytes. The union is discrete
        /// (one fract) or stepwise {min, max, step} (three fracts).
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_frmivalenum
        {
            public uint index;
            public uint pixel_format;
            public uint width;
            public uint height;
            public uint type;
            public v4l2_fract discrete_or_min;
            public v4l2_fract max;
            public v4l2_fract step;

            // Two u32, not a u64: a u64 would be 8-aligned and make the struct 56 bytes (the layout test caught it).
            public fixed uint reserved[2];
        }

        /// <summary><c>struct v4l2_pix_format</c>: 48 bytes (the single-planar format).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct v4l2_pix_format
        {
            public uint width;
            public uint height;
            public uint pixelformat;
            public uint field;
            public uint bytesperline;
            public uint sizeimage;
            public uint colorspace;
            public uint priv;
            public uint flags;
            public uint ycbcr_enc;
            public uint quantization;
            public uint xfer_func;
        }

        /// <summary>
        /// <c>struct v4l2_format</c> (VIDIOC_G_FMT/S_FMT): 208 bytes on 64-bit. The <c>fmt</c> union holds
        /// pointers (<c>v4l2_window.clips</c>), so it is 8-aligned and starts at 8; on 32-bit ARM it starts at 4 and
        /// the struct is 204 bytes (and VIDIOC_G_FMT's number changes with it).
        /// </summary>
        [StructLayout(LayoutKind.Explicit, Size = 208)]
        internal unsafe struct v4l2_format
        {
            [FieldOffset(0)]
            public uint type;

            [FieldOffset(8)]
            public v4l2_pix_format pix;

            [FieldOffset(8)]
            public fixed byte raw_data[200];
        }

        /// <summary><c>struct v4l2_captureparm</c>: 40 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct v4l2_captureparm
        {
            public uint capability;
            public uint capturemode;
            public v4l2_fract timeperframe;
            public uint extendedmode;
            public uint readbuffers;
            public fixed uint reserved[4];
        }

        /// <summary><c>struct v4l2_streamparm</c> (VIDIOC_G_PARM/S_PARM): 204 bytes on every architecture (no pointers).</summary>
        [StructLayout(LayoutKind.Explicit, Size = 204)]
        internal unsafe struct v4l2_streamparm
        {
            [FieldOffset(0)]
            public uint type;

            [FieldOffset(4)]
            public v4l2_captureparm capture;

            [FieldOffset(4)]
            public fixed byte raw_data[200];
        }
    }
}
