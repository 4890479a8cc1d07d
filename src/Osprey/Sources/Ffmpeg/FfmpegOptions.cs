using System.Globalization;
using System.Text;

namespace Osprey.Sources.Ffmpeg;

/// <summary>What ffmpeg writes to its stdout for Osprey.</summary>
public enum FfmpegOutput
{
    /// <summary>Concatenated JPEG images (<c>-f mjpeg</c>), passed to JPEG viewers as they are.</summary>
    Mjpeg,

    /// <summary>Raw YUYV 4:2:2 frames of a fixed size (<c>-f rawvideo -pix_fmt yuyv422</c>).</summary>
    Yuyv,

    /// <summary>H.264 Annex B (<c>-f h264</c>): libx264 zerolatency, or the input's own H.264 with <c>codec=copy</c>.</summary>
    H264,
}

/// <summary>
/// Options of an ffmpeg source, from <c>ffmpeg:&lt;input arguments&gt;#output=mjpeg|yuyv&amp;size=WxH&amp;fps=N&amp;qscale=Q&amp;codec=copy</c>.
/// </summary>
/// <remarks>
/// The part before <c>#</c> is ffmpeg's input side, split like a shell would (quotes group words), e.g.
/// <c>-re -f lavfi -i testsrc2=size=640x480:rate=30</c>, <c>-f v4l2 -input_format mjpeg -i /dev/video0</c> or
/// <c>-rtsp_transport tcp -i rtsp://camera/stream</c>. Osprey adds the output side.
/// </remarks>
public sealed record FfmpegOptions
{
    /// <summary>ffmpeg's input arguments.</summary>
    public IReadOnlyList<string> InputArguments { get; init; } = [];

    /// <summary>What ffmpeg should write.</summary>
    public FfmpegOutput Output { get; init; } = FfmpegOutput.Mjpeg;

    /// <summary>Scale to this width (required for <see cref="FfmpegOutput.Yuyv"/>, default 640); 0 keeps the input's.</summary>
    public int Width { get; init; }

    /// <summary>Scale to this height; 0 keeps the input's.</summary>
    public int Height { get; init; }

    /// <summary>Output frame rate (ffmpeg <c>-r</c>); 0 keeps the input's.</summary>
    public double Fps { get; init; }

    /// <summary>MJPEG quantiser scale (ffmpeg <c>-q:v</c>, 2 best to 31 worst), default 5.</summary>
    public int QScale { get; init; } = 5;

    /// <summary>H.264 bit rate in kbit/s (0: libx264's constant quality default).</summary>
    public int BitrateKbps { get; init; }

    /// <summary>H.264 key frame interval in frames (default 60).</summary>
    public int Gop { get; init; } = 60;

    /// <summary>How long a running ffmpeg may give no frame before it is restarted (<c>frameTimeout=S</c>); null: the server's <c>--source-timeout</c>.</summary>
    public TimeSpan? FrameTimeout { get; init; }

    /// <summary>Pass an MJPEG input through without re-encoding (<c>-c:v copy</c>): for MJPEG cameras.</summary>
    public bool Copy { get; init; }

    /// <summary>The ffmpeg executable.</summary>
    public string Executable { get; init; } = "ffmpeg";

    /// <summary>The largest JPEG accepted from ffmpeg; larger ones are dropped and counted.</summary>
    public int MaxImageSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>True when ffmpeg writes FLV (H.264 it encodes itself).</summary>
    public bool UsesFlv => Output == FfmpegOutput.H264 && !Copy;

    /// <summary>Bytes in one raw frame.</summary>
    public int RawFrameSize => Width * Height * 2;

    /// <summary>The whole command line after the executable.</summary>
    public IReadOnlyList<string> BuildArguments()
    {
        var args = new List<string> { "-hide_banner", "-nostdin", "-loglevel", "error" };
        args.AddRange(InputArguments);
        args.AddRange(["-an", "-sn", "-dn"]);
        var scale = Width > 0 && Height > 0 ? $"scale={Width}:{Height}" : null;
        if (Output == FfmpegOutput.H264)
        {
            if (Copy)
            {
                args.AddRange(["-c:v", "copy"]);
            }
            else
            {
                if (scale is not null)
                {
                    args.AddRange(["-vf", scale]);
                }

                // Live: no B-frames (output order = capture order), no lookahead, SPS/PPS repeated before each IDR.
                args.AddRange(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-pix_fmt", "yuv420p",
                    "-g", Gop.ToString(CultureInfo.InvariantCulture),
                    // ffmpeg converts to YUV with the BT.601 matrix: say so in the VUI, or browsers assume BT.709.
                    "-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m"]);
                if (BitrateKbps > 0)
                {
                    var rate = BitrateKbps.ToString(CultureInfo.InvariantCulture) + "k";
                    args.AddRange(["-b:v", rate, "-maxrate", rate, "-bufsize", rate]);
                }
            }
        }
        else if (Output == FfmpegOutput.Mjpeg)
        {
            if (Copy)
            {
                args.AddRange(["-c:v", "copy"]);
            }
            else
            {
                if (scale is not null)
                {
                    args.AddRange(["-vf", scale]);
                }

                args.AddRange(["-c:v", "mjpeg", "-q:v", QScale.ToString(CultureInfo.InvariantCulture)]);
            }
        }
        else
        {
            args.AddRange(["-vf", scale ?? "scale=640:480", "-pix_fmt", "yuyv422"]);
        }

        if (Fps > 0 && !Copy)
        {
            args.AddRange(["-r", Fps.ToString(CultureInfo.InvariantCulture)]);
        }

        // H.264 that ffmpeg encodes comes as FLV (one tag per access unit, handed on as soon as it is whole);
        // passed-through camera H.264 stays Annex B, since it may lack the global header FLV needs.
        var format = Output switch
        {
            FfmpegOutput.Mjpeg => "mjpeg",
            FfmpegOutput.H264 => UsesFlv ? "flv" : "h264",
            _ => "rawvideo",
        };
        args.AddRange(UsesFlv ? ["-f", format, "-flush_packets", "1", "pipe:1"] : ["-f", format, "pipe:1"]);
        return args;
    }

    /// <summary>The canonical URI of these options.</summary>
    public string ToUri()
    {
        var uri = new StringBuilder("ffmpeg:");
        uri.AppendJoin(' ', InputArguments.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));
        uri.Append(CultureInfo.InvariantCulture, $"#output={Output.ToString().ToLowerInvariant()}");
        if (Width > 0)
        {
            uri.Append(CultureInfo.InvariantCulture, $"&size={Width}x{Height}");
        }

        if (Fps > 0)
        {
            uri.Append(CultureInfo.InvariantCulture, $"&fps={Fps}");
        }

        if (Copy)
        {
            uri.Append("&codec=copy");
        }

        if (FrameTimeout is { } frameTimeout)
        {
            uri.Append(CultureInfo.InvariantCulture, $"&frameTimeout={frameTimeout.TotalSeconds}");
        }

        return uri.ToString();
    }

    /// <summary>Parses the URI; throws <see cref="FormatException"/> with a clear message.</summary>
    public static FfmpegOptions Parse(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var query = SourceOptions.Parse(uri, '#');
        var input = query.Body["ffmpeg:".Length..];
        var arguments = SplitArguments(input, uri);
        if (!arguments.Contains("-i"))
        {
            throw new FormatException($"Source '{uri}': ffmpeg needs an input, e.g. ffmpeg:-re -f lavfi -i testsrc2=size=640x480:rate=30");
        }

        var options = new FfmpegOptions { InputArguments = arguments };
        query.RejectUnknown("output", "size", "fps", "qscale", "bitrate", "gop", "codec", "frameTimeout");
        if (query.TryGet("output", out var output))
        {
            options = options with
            {
                Output = output.ToLowerInvariant() switch
                {
                    "mjpeg" or "jpeg" => FfmpegOutput.Mjpeg,
                    "yuyv" or "raw" => FfmpegOutput.Yuyv,
                    "h264" => FfmpegOutput.H264,
                    _ => throw query.Error($"output '{output}' is not mjpeg, yuyv or h264."),
                },
            };
        }

        if (query.TryGet("size", out var size))
        {
            options = ParseSize(options, size, uri);
        }

        if (query.TryGet("codec", out var codec))
        {
            options = codec == "copy" ? options with { Copy = true } : throw query.Error($"codec '{codec}': only codec=copy is known.");
        }

        options = options with
        {
            Fps = query.GetDouble("fps", options.Fps, 0.1, 240),
            QScale = query.GetInt("qscale", options.QScale, 2, 31),
            BitrateKbps = query.GetInt("bitrate", options.BitrateKbps, 50, 100_000),
            Gop = query.GetInt("gop", options.Gop, 1, 1000),
            FrameTimeout = query.TryGet("frameTimeout", out _) ? TimeSpan.FromSeconds(query.GetDouble("frameTimeout", 0, 0, 86_400)) : null,
        };

        if (options.Output == FfmpegOutput.Yuyv && options.Width == 0)
        {
            options = options with { Width = 640, Height = 480 };
        }

        if (options.Copy && (options.Output == FfmpegOutput.Yuyv || options.Width > 0))
        {
            throw new FormatException($"Source '{uri}': codec=copy passes MJPEG or H.264 through as it is; it cannot scale or output yuyv.");
        }

        return options;
    }

    private static FfmpegOptions ParseSize(FfmpegOptions options, string value, string uri)
    {
        var x = value.IndexOf('x', StringComparison.OrdinalIgnoreCase);
        if (x <= 0 || !int.TryParse(value.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture, out var width) ||
            !int.TryParse(value.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var height) ||
            width < 16 || height < 8 || width > 8192 || height > 8192 || width % 2 != 0)
        {
            throw new FormatException($"Source '{uri}': size '{value}' must be WIDTHxHEIGHT, width even, from 16x8 to 8192x8192.");
        }

        return options with { Width = width, Height = height };
    }

    /// <summary>Splits like a shell: spaces separate words, single or double quotes group them.</summary>
    internal static List<string> SplitArguments(string text, string uri)
    {
        var result = new List<string>();
        var current = new StringBuilder();
        char? quote = null;
        var inWord = false;
        foreach (var c in text)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    result.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        if (quote is not null)
        {
            throw new FormatException($"Source '{uri}': a quote is not closed.");
        }

        if (inWord)
        {
            result.Add(current.ToString());
        }

        return result;
    }
}
