namespace Osprey;

internal static partial class Interop
{
    internal static partial class V4L2
    {
        // asm-generic/ioctl.h: _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr, with
        // _IOC_WRITE = 1 and _IOC_READ = 2 (x86-64, arm64 and 32-bit ARM alike). The sizes are the 64-bit
        // layouts' (see the structs): on 32-bit ARM the numbers of the requests that carry v4l2_format or
        // v4l2_buffer differ. Constants, not computed at run time: the layout test pins each to the kernel's.
        private const uint IocWrite = 1u << 30;
        private const uint IocRead = 2u << 30;
        private const uint IocReadWrite = IocRead | IocWrite;
        private const uint Type = 'V' << 8;

        internal const uint SizeOfCapability = 104;
        internal const uint SizeOfFmtdesc = 64;
        internal const uint SizeOfFormat = 208;
        internal const uint SizeOfRequestbuffers = 20;
        internal const uint SizeOfBuffer = 88;
        internal const uint SizeOfStreamparm = 204;
        internal const uint SizeOfControl = 8;
        internal const uint SizeOfQueryctrl = 68;
        internal const uint SizeOfFrmsizeenum = 44;
        internal const uint SizeOfFrmivalenum = 52;
        internal const uint SizeOfQueryExtCtrl = 232;

        internal const uint VIDIOC_QUERYCAP = IocRead | (SizeOfCapability << 16) | Type | 0;
        internal const uint VIDIOC_ENUM_FMT = IocReadWrite | (SizeOfFmtdesc << 16) | Type | 2;
        internal const uint VIDIOC_G_FMT = IocReadWrite | (SizeOfFormat << 16) | Type | 4;
        internal const uint VIDIOC_S_FMT = IocReadWrite | (SizeOfFormat << 16) | Type | 5;
        internal const uint VIDIOC_REQBUFS = IocReadWrite | (SizeOfRequestbuffers << 16) | Type | 8;
        internal const uint VIDIOC_QUERYBUF = IocReadWrite | (SizeOfBuffer << 16) | Type | 9;
        internal const uint VIDIOC_QBUF = IocReadWrite | (SizeOfBuffer << 16) | Type | 15;
        internal const uint VIDIOC_DQBUF = IocReadWrite | (SizeOfBuffer << 16) | Type | 17;
        internal const uint VIDIOC_STREAMON = IocWrite | (sizeof(int) << 16) | Type | 18;
        internal const uint VIDIOC_STREAMOFF = IocWrite | (sizeof(int) << 16) | Type | 19;
        internal const uint VIDIOC_G_PARM = IocReadWrite | (SizeOfStreamparm << 16) | Type | 21;
        internal const uint VIDIOC_S_PARM = IocReadWrite | (SizeOfStreamparm << 16) | Type | 22;
        internal const uint VIDIOC_G_CTRL = IocReadWrite | (SizeOfControl << 16) | Type | 27;
        internal const uint VIDIOC_S_CTRL = IocReadWrite | (SizeOfControl << 16) | Type | 28;
        internal const uint VIDIOC_QUERYCTRL = IocReadWrite | (SizeOfQueryctrl << 16) | Type | 36;
        internal const uint VIDIOC_ENUM_FRAMESIZES = IocReadWrite | (SizeOfFrmsizeenum << 16) | Type | 74;
        internal const uint VIDIOC_ENUM_FRAMEINTERVALS = IocReadWrite | (SizeOfFrmivalenum << 16) | Type | 75;
        internal const uint VIDIOC_QUERY_EXT_CTRL = IocReadWrite | (SizeOfQueryExtCtrl << 16) | Type | 103;
    }
}
