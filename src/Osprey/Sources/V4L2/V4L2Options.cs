using System.Globalization;
using Osprey.Media;

namespace Osprey.Sources.V4L2;

/// <summary>
/// Options of a V4L2 source, from <c>v4l2:///dev/video0?format=yuyv&amp;width=640&amp;height=480&amp;fps=30</c>.
/// </summary>
public sealed record V4L2Options
{
    /// <summary>The device node, default /dev/video0 (a /dev/v4l/by-id path keeps naming the same camera).</summary>
    public string Device { get; init; } = "/dev/video0";

    /// <summary>The requested format's name: yuyv (default), mjpeg, h264 or nv12.</summary>
    public string Format { get; init; } = "yuyv";

    /// <summary>Requested width, default 640 (the driver may choose another; the feed reports what it chose).</summary>
    public int Width { get; init; } = 640;

    /// <summary>Requested height, default 480.</summary>
    public int Height { get; init; } = 480;

    /// <summary>Requested frame rate, default 30.</summary>
    public double Fps { get; init; } = 30;

    /// <summary>mmap buffers to request, default 6, at least 4: they bound how many frames readers hold without a copy.</summary>
    public int Buffers { get; init; } = 6;

    /// <summary>Seconds without a frame after which the device is reopened (a stuck driver), default 5.</summary>
    public double TimeoutSeconds { get; init; } = 5;

    /// <summary>The requested fourcc.</summary>
    public uint FourCc => V4L2Formats.TryParse(Format, out var fourCc, out _) ? fourCc : 0;

    /// <summary>What frames of the requested format are published as.</summary>
    public MediaFormat MediaFormat => V4L2Formats.TryParse(Format, out _, out var format) ? format : MediaFormat.Unknown;

    /// <summary>The canonical URI of these options.</summary>
    public string ToUri() => string.Create(
        CultureInfo.InvariantCulture,
        $"v4l2://{Device}?format={Format}&width={Width}&height={Height}&fps={Fps}{(Buffers != 6 ? $"&buffers={Buffers}" : "")}");

    /// <summary>Parses <c>v4l2:///dev/video0?...</c> (or <c>v4l2:/dev/video0</c>); throws <see cref="FormatException"/> with a clear message.</summary>
    public static V4L2Options Parse(string uri) => Parse(SourceOptions.Parse(uri));

    /// <summary>Parses the options of a <c>v4l2:</c> URI; throws <see cref="FormatException"/> with a clear message.</summary>
    public static V4L2Options Parse(SourceOptions query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var uri = query.Uri;
        query.RejectUnknown("format", "width", "height", "fps", "buffers", "timeout");
        var path = query.Body["v4l2:".Length..];
        if (path.StartsWith("//", StringComparison.Ordinal))
        {
            path = path[2..];
        }

        if (path.Length == 0)
        {
            path = "/dev/video0";
        }

        if (!path.StartsWith('/'))
        {
            throw new FormatException($"Source '{uri}': the device must be an absolute path, e.g. v4l2:///dev/video0.");
        }

        var options = new V4L2Options
        {
            Device = path,
            Format = query.GetString("format", "yuyv").ToLowerInvariant(),
            Width = query.GetInt("width", 640),
            Height = query.GetInt("height", 480),
            Fps = query.GetDouble("fps", 30),
            Buffers = query.GetInt("buffers", 6),
            TimeoutSeconds = query.GetDouble("timeout", 5),
        };
        if (options.FourCc == 0)
        {
            throw new FormatException($"Source '{uri}': format '{options.Format}' is not one of yuyv, mjpeg, h264, nv12.");
        }

        if (options.Width is < 16 or > 8192 || options.Height is < 8 or > 8192)
        {
            throw new FormatException($"Source '{uri}': size {options.Width}x{options.Height} is out of range (16-8192 x 8-8192).");
        }

        if (!(options.Fps > 0 && options.Fps <= 240))
        {
            throw new FormatException($"Source '{uri}': fps {options.Fps} must be above 0 and at most 240.");
        }

        if (options.Buffers is < 4 or > 32)
        {
            throw new FormatException($"Source '{uri}': buffers={options.Buffers} must be from 4 to 32.");
        }

        if (!(options.TimeoutSeconds >= 0.1))
        {
            throw new FormatException($"Source '{uri}': timeout={options.TimeoutSeconds} must be at least 0.1 s.");
        }

        return options;
    }
}
