namespace Osprey;

internal static partial class Interop
{
    /// <summary>
    /// linux/videodev2.h and linux/v4l2-controls.h: the structs, request numbers and constants Osprey uses, names
    /// kept as in the headers. Layouts are those of 64-bit Linux (x86-64 and arm64); where 32-bit ARM differs it
    /// is said on the struct. tests/Osprey.Tests/Interop/V4L2LayoutTests.cs checks every size, offset, request
    /// number and constant here against the kernel headers.
    /// </summary>
    internal static partial class V4L2
    {
        // enum v4l2_buf_type / v4l2_memory / v4l2_field.
        internal const uint V4L2_BUF_TYPE_VIDEO_CAPTURE = 1;
        internal const uint V4L2_MEMORY_MMAP = 1;
        internal const uint V4L2_FIELD_ANY = 0;
        internal const uint V4L2_FIELD_NONE = 1;

        // Capabilities (v4l2_capability.capabilities / device_caps).
        internal const uint V4L2_CAP_VIDEO_CAPTURE = 0x00000001;
        internal const uint V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000;
        internal const uint V4L2_CAP_META_CAPTURE = 0x00800000;
        internal const uint V4L2_CAP_STREAMING = 0x04000000;
        internal const uint V4L2_CAP_DEVICE_CAPS = 0x80000000;

        // Pixel formats: v4l2_fourcc(a, b, c, d) = a | b << 8 | c << 16 | d << 24.
        internal const uint V4L2_PIX_FMT_YUYV = 'Y' | ('U' << 8) | ('Y' << 16) | ((uint)'V' << 24);
        internal const uint V4L2_PIX_FMT_NV12 = 'N' | ('V' << 8) | ('1' << 16) | ((uint)'2' << 24);
        internal const uint V4L2_PIX_FMT_MJPEG = 'M' | ('J' << 8) | ('P' << 16) | ((uint)'G' << 24);
        internal const uint V4L2_PIX_FMT_JPEG = 'J' | ('P' << 8) | ('E' << 16) | ((uint)'G' << 24);
        internal const uint V4L2_PIX_FMT_H264 = 'H' | ('2' << 8) | ('6' << 16) | ((uint)'4' << 24);

        // enum v4l2_frmsizetypes / v4l2_frmivaltypes.
        internal const uint V4L2_FRMSIZE_TYPE_DISCRETE = 1;
        internal const uint V4L2_FRMSIZE_TYPE_CONTINUOUS = 2;
        internal const uint V4L2_FRMSIZE_TYPE_STEPWISE = 3;
        internal const uint V4L2_FRMIVAL_TYPE_DISCRETE = 1;
        internal const uint V4L2_FRMIVAL_TYPE_CONTINUOUS = 2;
        internal const uint V4L2_FRMIVAL_TYPE_STEPWISE = 3;

        // v4l2_captureparm.capability.
        internal const uint V4L2_CAP_TIMEPERFRAME = 0x1000;

        // v4l2_buffer.flags.
        internal const uint V4L2_BUF_FLAG_MAPPED = 0x00000001;
        internal const uint V4L2_BUF_FLAG_QUEUED = 0x00000002;
        internal const uint V4L2_BUF_FLAG_DONE = 0x00000004;
        internal const uint V4L2_BUF_FLAG_KEYFRAME = 0x00000008;
        internal const uint V4L2_BUF_FLAG_ERROR = 0x00000040;
        internal const uint V4L2_BUF_FLAG_TIMESTAMP_MASK = 0x0000e000;
        internal const uint V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = 0x00002000;

        // Controls: enum v4l2_ctrl_type, flags, and the ids Osprey names in docs and tests.
        internal const uint V4L2_CTRL_TYPE_INTEGER = 1;
        internal const uint V4L2_CTRL_TYPE_BOOLEAN = 2;
        internal const uint V4L2_CTRL_TYPE_MENU = 3;
        internal const uint V4L2_CTRL_TYPE_BUTTON = 4;
        internal const uint V4L2_CTRL_TYPE_INTEGER64 = 5;
        internal const uint V4L2_CTRL_TYPE_CTRL_CLASS = 6;
        internal const uint V4L2_CTRL_TYPE_INTEGER_MENU = 9;
        internal const uint V4L2_CTRL_FLAG_DISABLED = 0x0001;
        internal const uint V4L2_CTRL_FLAG_GRABBED = 0x0002;
        internal const uint V4L2_CTRL_FLAG_READ_ONLY = 0x0004;
        internal const uint V4L2_CTRL_FLAG_INACTIVE = 0x0010;
        internal const uint V4L2_CTRL_FLAG_WRITE_ONLY = 0x0040;
        internal const uint V4L2_CTRL_FLAG_NEXT_CTRL = 0x80000000;
        internal const uint V4L2_CID_BASE = 0x00980900;
        internal const uint V4L2_CID_BRIGHTNESS = V4L2_CID_BASE + 0;
        internal const uint V4L2_CID_CONTRAST = V4L2_CID_BASE + 1;
        internal const uint V4L2_CID_ROTATE = V4L2_CID_BASE + 34;
        internal const uint V4L2_CID_EXPOSURE_ABSOLUTE = 0x009a0900 + 2;
        internal const uint V4L2_CID_MPEG_VIDEO_BITRATE = 0x00990900 + 207;
        internal const uint V4L2_CID_MPEG_VIDEO_GOP_SIZE = 0x00990900 + 203;
        internal const uint V4L2_CID_MPEG_VIDEO_H264_I_PERIOD = 0x00990900 + 358;
    }
}
