using System.Globalization;
using System.Text;
using Osprey.Media;
using static Osprey.Interop.V4L2;

namespace Osprey.Sources.V4L2;

/// <summary>What VIDIOC_QUERYCAP says about a device.</summary>
public sealed record V4L2Capabilities(string Driver, string Card, string BusInfo, uint Capabilities, uint DeviceCapabilities)
{
    /// <summary>The capabilities of this node (device_caps when the driver reports it).</summary>
    public uint NodeCapabilities => (Capabilities & V4L2_CAP_DEVICE_CAPS) != 0 ? DeviceCapabilities : Capabilities;

    /// <summary>True for a single-planar video capture node that streams (what Osprey captures from).</summary>
    public bool CanCapture => (NodeCapabilities & V4L2_CAP_VIDEO_CAPTURE) != 0 && (NodeCapabilities & V4L2_CAP_STREAMING) != 0;
}

/// <summary>A pixel format a device offers, with its frame sizes.</summary>
public sealed record V4L2FormatDescription(uint FourCc, string Description, IReadOnlyList<V4L2FrameSize> Sizes)
{
    /// <summary>The four characters, e.g. <c>YUYV</c>.</summary>
    public string Name => V4L2Formats.FourCcToString(FourCc);
}

/// <summary>A frame size and the frame rates offered at it (discrete ones; a range as text otherwise).</summary>
public sealed record V4L2FrameSize(int Width, int Height, IReadOnlyList<double> Fps, string? Range = null);

/// <summary>The format a driver chose in answer to VIDIOC_S_FMT.</summary>
public readonly record struct V4L2PixelFormat(uint FourCc, int Width, int Height, int BytesPerLine, int SizeImage);

/// <summary>A control as VIDIOC_QUERY_EXT_CTRL describes it, with its value when readable.</summary>
public sealed record V4L2Control(
    string Name,
    uint Id,
    string Label,
    string Type,
    long Minimum,
    long Maximum,
    long Step,
    long Default,
    long? Value,
    bool ReadOnly,
    bool Inactive);

/// <summary>Osprey's names for V4L2 pixel formats.</summary>
public static class V4L2Formats
{
    /// <summary>The four characters of a fourcc, e.g. <c>MJPG</c>.</summary>
    public static string FourCcToString(uint fourCc) => string.Create(4, fourCc, static (chars, code) =>
    {
        for (var i = 0; i < 4; i++)
        {
            var c = (char)((code >> (8 * i)) & 0xFF);
            chars[i] = char.IsAsciiLetterOrDigit(c) ? c : (c == ' ' ? ' ' : '?');
        }
    });

    /// <summary>The fourcc of a URI's <c>format=</c> (yuyv, mjpeg, h264, nv12).</summary>
    public static bool TryParse(string name, out uint fourCc, out MediaFormat format)
    {
        (fourCc, format) = name.ToLowerInvariant() switch
        {
            "yuyv" or "yuy2" => (V4L2_PIX_FMT_YUYV, MediaFormat.Yuyv),
            "mjpeg" or "mjpg" or "jpeg" => (V4L2_PIX_FMT_MJPEG, MediaFormat.Jpeg),
            "h264" => (V4L2_PIX_FMT_H264, MediaFormat.H264),
            "nv12" => (V4L2_PIX_FMT_NV12, MediaFormat.Nv12),
            _ => (0u, MediaFormat.Unknown),
        };
        return fourCc != 0;
    }

    /// <summary>What Osprey publishes frames of a fourcc as; Unknown for formats it does not handle.</summary>
    public static MediaFormat ToMediaFormat(uint fourCc) => fourCc switch
    {
        V4L2_PIX_FMT_YUYV => MediaFormat.Yuyv,
        V4L2_PIX_FMT_NV12 => MediaFormat.Nv12,
        V4L2_PIX_FMT_MJPEG or V4L2_PIX_FMT_JPEG => MediaFormat.Jpeg,
        V4L2_PIX_FMT_H264 => MediaFormat.H264,
        _ => MediaFormat.Unknown,
    };
}

/// <summary>The V4L2 queries and settings Osprey uses, over any <see cref="IV4L2Device"/>.</summary>
internal static class V4L2Queries
{
    private const int MaxEnumeration = 256; // a bound on every index++ loop, against a driver that never says EINVAL

    public static unsafe V4L2Capabilities QueryCapabilities(IV4L2Device device)
    {
        var cap = default(v4l2_capability);
        Check(device.Ioctl(VIDIOC_QUERYCAP, ref cap), device, "VIDIOC_QUERYCAP");
        return new V4L2Capabilities(DecodeName(cap.driver, 16), DecodeName(cap.card, 32), DecodeName(cap.bus_info, 32), cap.capabilities, cap.device_caps);
    }

    public static unsafe List<V4L2FormatDescription> EnumerateFormats(IV4L2Device device)
    {
        var formats = new List<V4L2FormatDescription>();
        for (uint index = 0; index < MaxEnumeration; index++)
        {
            var desc = new v4l2_fmtdesc { index = index, type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
            var errno = device.Ioctl(VIDIOC_ENUM_FMT, ref desc);
            if (errno == Interop.Libc.Errors.EINVAL)
            {
                break;
            }

            Check(errno, device, "VIDIOC_ENUM_FMT");
            formats.Add(new V4L2FormatDescription(desc.pixelformat, DecodeName(desc.description, 32), EnumerateSizes(device, desc.pixelformat)));
        }

        return formats;
    }

    private static unsafe List<V4L2FrameSize> EnumerateSizes(IV4L2Device device, uint fourCc)
    {
        var sizes = new List<V4L2FrameSize>();
        for (uint index = 0; index < MaxEnumeration; index++)
        {
            var size = new v4l2_frmsizeenum { index = index, pixel_format = fourCc };
            if (device.Ioctl(VIDIOC_ENUM_FRAMESIZES, ref size) != 0)
            {
                break; // EINVAL ends the list; drivers without the ioctl (ENOTTY) list nothing.
            }

            if (size.type == V4L2_FRMSIZE_TYPE_DISCRETE)
            {
                var width = (int)size.size[0];
                var height = (int)size.size[1];
                sizes.Add(new V4L2FrameSize(width, height, EnumerateIntervals(device, fourCc, width, height, out var range), range));
            }
            else
            {
                // Stepwise or continuous: one entry describing the range, at the largest size.
                var text = string.Create(CultureInfo.InvariantCulture, $"{size.size[0]}-{size.size[1]} x {size.size[3]}-{size.size[4]}, step {size.size[2]}x{size.size[5]}");
                sizes.Add(new V4L2FrameSize((int)size.size[1], (int)size.size[4], [], text));
                break;
            }
        }

        return sizes;
    }

    private static List<double> EnumerateIntervals(IV4L2Device device, uint fourCc, int width, int height, out string? range)
    {
        var rates = new List<double>();
        range = null;
        for (uint index = 0; index < MaxEnumeration; index++)
        {
            var interval = new v4l2_frmivalenum { index = index, pixel_format = fourCc, width = (uint)width, height = (uint)height };
            if (device.Ioctl(VIDIOC_ENUM_FRAMEINTERVALS, ref interval) != 0)
            {
                break;
            }

            if (interval.type == V4L2_FRMIVAL_TYPE_DISCRETE)
            {
                rates.Add(ToFps(interval.discrete_or_min));
            }
            else
            {
                range = string.Create(CultureInfo.InvariantCulture, $"{ToFps(interval.max):0.###}-{ToFps(interval.discrete_or_min):0.###} fps");
                break;
            }
        }

        return rates;
    }

    /// <summary>VIDIOC_S_FMT, then what the driver chose (it may change anything it cannot do).</summary>
    public static V4L2PixelFormat SetFormat(IV4L2Device device, uint fourCc, int width, int height)
    {
        var format = new v4l2_format { type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
        Check(device.Ioctl(VIDIOC_G_FMT, ref format), device, "VIDIOC_G_FMT");
        format.pix.pixelformat = fourCc;
        format.pix.width = (uint)width;
        format.pix.height = (uint)height;
        format.pix.field = V4L2_FIELD_NONE;
        format.pix.bytesperline = 0; // let the driver compute its own stride
        format.pix.sizeimage = 0;
        var errno = device.Ioctl(VIDIOC_S_FMT, ref format);
        if (errno == Interop.Libc.Errors.EBUSY)
        {
            throw new V4L2Exception($"{device.Path} is busy: another program is capturing from it", errno);
        }

        Check(errno, device, "VIDIOC_S_FMT");
        var pix = format.pix;
        return new V4L2PixelFormat(pix.pixelformat, (int)pix.width, (int)pix.height, (int)pix.bytesperline, (int)pix.sizeimage);
    }

    /// <summary>VIDIOC_S_PARM with 1/fps; the rate the driver chose, or 0 when it cannot set a rate.</summary>
    public static double SetFrameRate(IV4L2Device device, double fps)
    {
        var parm = new v4l2_streamparm { type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
        if (device.Ioctl(VIDIOC_G_PARM, ref parm) != 0 || (parm.capture.capability & V4L2_CAP_TIMEPERFRAME) == 0)
        {
            return 0;
        }

        // 1000/30000 rather than 1/30 so that rates like 29.97 survive.
        parm.capture.timeperframe = new v4l2_fract { numerator = 1000, denominator = (uint)Math.Round(fps * 1000) };
        if (device.Ioctl(VIDIOC_S_PARM, ref parm) != 0)
        {
            return 0;
        }

        return ToFps(parm.capture.timeperframe);
    }

    public static unsafe List<V4L2Control> ListControls(IV4L2Device device)
    {
        var controls = new List<V4L2Control>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var query = new v4l2_query_ext_ctrl { id = V4L2_CTRL_FLAG_NEXT_CTRL };
        for (var i = 0; i < 1024; i++)
        {
            var errno = device.Ioctl(VIDIOC_QUERY_EXT_CTRL, ref query);
            if (errno == Interop.Libc.Errors.ENOTTY)
            {
                return ListControlsLegacy(device);
            }

            if (errno != 0)
            {
                break; // EINVAL: no more controls
            }

            var id = query.id;
            if (query.type != V4L2_CTRL_TYPE_CTRL_CLASS && (query.flags & V4L2_CTRL_FLAG_DISABLED) == 0 && query.nr_of_dims == 0)
            {
                var label = DecodeName(query.name, 32);
                controls.Add(Describe(device, id, label, query.type, query.minimum, query.maximum, (long)query.step, query.default_value, query.flags, names));
            }

            query = new v4l2_query_ext_ctrl { id = id | V4L2_CTRL_FLAG_NEXT_CTRL };
        }

        return controls;
    }

    private static unsafe List<V4L2Control> ListControlsLegacy(IV4L2Device device)
    {
        // Drivers older than 3.17: VIDIOC_QUERYCTRL with the same NEXT_CTRL iteration.
        var controls = new List<V4L2Control>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var query = new v4l2_queryctrl { id = V4L2_CTRL_FLAG_NEXT_CTRL };
        for (var i = 0; i < 1024 && device.Ioctl(VIDIOC_QUERYCTRL, ref query) == 0; i++)
        {
            var id = query.id;
            if (query.type != V4L2_CTRL_TYPE_CTRL_CLASS && (query.flags & V4L2_CTRL_FLAG_DISABLED) == 0)
            {
                controls.Add(Describe(device, id, DecodeName(query.name, 32), query.type, query.minimum, query.maximum, query.step, query.default_value, query.flags, names));
            }

            query = new v4l2_queryctrl { id = id | V4L2_CTRL_FLAG_NEXT_CTRL };
        }

        return controls;
    }

    private static V4L2Control Describe(IV4L2Device device, uint id, string label, uint type, long minimum, long maximum, long step, long defaultValue, uint flags, HashSet<string> names)
    {
        var name = ControlName(label);
        if (!names.Add(name))
        {
            name = string.Create(CultureInfo.InvariantCulture, $"{name}_{id:x}");
            names.Add(name);
        }

        long? value = null;
        if ((flags & V4L2_CTRL_FLAG_WRITE_ONLY) == 0 && type is V4L2_CTRL_TYPE_INTEGER or V4L2_CTRL_TYPE_BOOLEAN or V4L2_CTRL_TYPE_MENU or V4L2_CTRL_TYPE_INTEGER_MENU)
        {
            var control = new v4l2_control { id = id };
            if (device.Ioctl(VIDIOC_G_CTRL, ref control) == 0)
            {
                value = control.value;
            }
        }

        return new V4L2Control(name, id, label, TypeName(type), minimum, maximum, step, defaultValue, value,
            (flags & (V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_GRABBED)) != 0, (flags & V4L2_CTRL_FLAG_INACTIVE) != 0);
    }

    /// <summary>VIDIOC_S_CTRL, then the value the driver kept (it may clamp); throws with the errno on refusal.</summary>
    public static long SetControl(IV4L2Device device, V4L2Control control, long value)
    {
        var set = new v4l2_control { id = control.Id, value = (int)value };
        Check(device.Ioctl(VIDIOC_S_CTRL, ref set), device, $"setting control {control.Name}");
        var get = new v4l2_control { id = control.Id };
        return device.Ioctl(VIDIOC_G_CTRL, ref get) == 0 ? get.value : set.value;
    }

    /// <summary>The API name of a control, as v4l2-ctl spells it: "Exposure Time, Absolute" is exposure_time_absolute.</summary>
    public static string ControlName(string label)
    {
        var name = new StringBuilder(label.Length);
        foreach (var c in label)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                name.Append(char.ToLowerInvariant(c));
            }
            else if (name.Length > 0 && name[^1] != '_')
            {
                name.Append('_');
            }
        }

        return name.ToString().TrimEnd('_');
    }

    private static string TypeName(uint type) => type switch
    {
        V4L2_CTRL_TYPE_INTEGER => "int",
        V4L2_CTRL_TYPE_BOOLEAN => "bool",
        V4L2_CTRL_TYPE_MENU => "menu",
        V4L2_CTRL_TYPE_INTEGER_MENU => "intmenu",
        V4L2_CTRL_TYPE_BUTTON => "button",
        V4L2_CTRL_TYPE_INTEGER64 => "int64",
        _ => string.Create(CultureInfo.InvariantCulture, $"type{type}"),
    };

    private static double ToFps(v4l2_fract timePerFrame) =>
        timePerFrame.numerator == 0 ? 0 : Math.Round((double)timePerFrame.denominator / timePerFrame.numerator, 3);

    internal static void Check(int errno, IV4L2Device device, string what)
    {
        if (errno != 0)
        {
            throw new V4L2Exception($"{device.Path}: {what} failed", errno);
        }
    }
}
