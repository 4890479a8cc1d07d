using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Sources.Ffmpeg;
using Osprey.Sources.OpenMv;
using Osprey.Sources.TestPattern;
using Osprey.Sources.V4L2;

namespace Osprey.Sources;

/// <summary>Makes sources from their URIs, e.g. <c>testpattern:?width=640&amp;height=480&amp;fps=30</c>.</summary>
public static class SourceFactory
{
    /// <summary>The schemes this build understands.</summary>
    public static IReadOnlyList<string> Schemes { get; } = ["testpattern", "ffmpeg", "v4l2", "openmv", "openmv+udp"];

    /// <summary>Makes the source <paramref name="uri"/> names; throws <see cref="FormatException"/> with a clear message.</summary>
    public static IFrameSource Create(string uri, TimeProvider? time = null, ILoggerFactory? loggers = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(uri);
        var colon = uri.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new FormatException($"Source '{uri}' has no scheme; expected one of: {string.Join(", ", Schemes)} (e.g. testpattern:?width=640&height=480&fps=30).");
        }

        var scheme = uri[..colon].ToLowerInvariant();
        if (scheme == "ffmpeg")
        {
            return new FfmpegSource(FfmpegOptions.Parse(uri), loggers?.CreateLogger("Osprey.Sources.Ffmpeg"), time);
        }

        if (scheme is "openmv" or "openmv+udp")
        {
            return new OpenMvSource(OpenMvOptions.Parse(uri), loggers?.CreateLogger("Osprey.Sources.OpenMv"), time);
        }

        var options = SourceOptions.Parse(uri);
        if (scheme == "v4l2")
        {
            return new V4L2Source(V4L2Options.Parse(options), loggers?.CreateLogger("Osprey.Sources.V4L2"), time);
        }

        if (scheme == "testpattern")
        {
            options.RejectUnknown("width", "height", "fps", "failAfter");
            return new TestPatternSource(
                new TestPatternOptions
                {
                    Width = options.GetInt("width", 640),
                    Height = options.GetInt("height", 480),
                    Fps = options.GetDouble("fps", 30),
                    FailAfterFrames = options.GetInt("failAfter", 0),
                },
                time);
        }

        throw new FormatException($"Source '{uri}': unknown scheme '{scheme}'; expected one of: {string.Join(", ", Schemes)}.");
    }

    /// <summary>Splits <c>NAME=URI</c> as given to <c>--source</c>.</summary>
    public static (string Name, string Uri) ParseNamedSource(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var equals = spec.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == spec.Length - 1)
        {
            throw new FormatException($"--source '{spec}' must be NAME=URI, e.g. video0=testpattern:?width=640&height=480&fps=30.");
        }

        var name = spec[..equals];
        if (!FeedNames.IsValid(name))
        {
            throw new FormatException($"--source '{spec}': feed name '{name}' {FeedNames.Rule}.");
        }

        return (name, spec[(equals + 1)..]);
    }
}
