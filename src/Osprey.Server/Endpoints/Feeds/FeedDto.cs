using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;
using Osprey.Server.Configuration;
using Osprey.Sources;
using Osprey.Sources.OpenMv;
using Osprey.Transforms;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>A feed as <c>/api/feeds</c> shows it.</summary>
internal sealed record FeedDto(
    string Name,
    string Format,
    int Width,
    int Height,
    double Fps,
    double MeasuredFps,
    int Viewers,
    string State,
    string? StateDetail,
    string? Source,
    long Frames,
    long Bytes,
    long Drops,
    long ViewersDropped,
    long Restarts,
    long FramesHeld,
    long FramesAllocated,
    int JpegQuality,
    JpegViewDto? Jpeg,
    IReadOnlyDictionary<string, string> Endpoints,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Views,
    OpenMvStats? OpenMv = null,
    IReadOnlyList<PartCounters>? Parts = null,
    string? Origin = null)
{
    /// <summary>
    /// The feed as the API shows it. <see cref="Origin"/> says where it comes from: <c>flag</c> (a --source), <c>config</c>
    /// (the config file), <c>api</c> (the sources API, or the state file it writes), <c>publisher</c> (made by a
    /// publisher; removed some time after it left).
    /// </summary>
    public static FeedDto From(Feed feed, FeedViews views, SourceHost sources, SourceCatalog? catalog = null)
    {
        var info = feed.Info;
        var endpoints = new Dictionary<string, string>(StringComparer.Ordinal);
        var chains = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (view, format, path) in ViewPaths(feed.Name))
        {
            if (Offers(views, info.Format, format) is { } chain)
            {
                endpoints[view] = path;
                chains[view] = chain;
            }
        }

        JpegViewDto? jpeg = null;
        if (views.ViewsOf(feed.Name).OfType<JpegEncodeTransform>().FirstOrDefault() is { } transform)
        {
            jpeg = new JpegViewDto(transform.ProcessedFrames, transform.SkippedFrames, transform.FailedFrames, transform.Output.ReaderCount, transform.IsRunning, transform.Workers);
        }

        return new FeedDto(
            feed.Name,
            info.Format.ToApiName(),
            info.Width,
            info.Height,
            info.Fps,
            feed.MeasuredFps,
            views.CountViewers(feed),
            feed.State.ToApiName(),
            feed.StateDetail,
            feed.SourceUri,
            feed.Frames,
            feed.Bytes,
            feed.Drops,
            // A viewer reads the feed or one of its views: its drops are the feed's, whichever it read.
            feed.ViewersDropped + views.ViewsOf(feed.Name).Sum(v => v.Output.ViewersDropped),
            sources.TryGetSupervisor(feed.Name, out var supervisor) ? supervisor.Restarts : 0,
            feed.Pool.Outstanding,
            feed.Pool.Allocated,
            views.Jpeg.Quality,
            jpeg,
            endpoints,
            chains,
            // An OpenMV camera's link state (connecting, streaming, lost) and counters; null for other sources.
            supervisor?.Source is OpenMvSource openMv ? openMv.Stats : null,
            CollectParts(supervisor, views.ViewsOf(feed.Name)),
            supervisor is null ? "publisher" : (catalog?.Find(feed.Name)?.Origin ?? SourceOrigin.Flag).ToApiName());
    }

    /// <summary>Every view a feed may be watched in: the name <c>endpoints</c> and <c>views</c> use, its format, its path.</summary>
    private static IEnumerable<(string View, MediaFormat Format, string Path)> ViewPaths(string name) =>
    [
        ("raw", MediaFormat.Yuyv, $"/ws/{name}/raw"),
        ("jpeg", MediaFormat.Jpeg, $"/ws/{name}/jpeg"),
        ("mjpeg", MediaFormat.Jpeg, $"/mjpeg/{name}"),
        ("snapshot", MediaFormat.Jpeg, $"/snapshot/{name}.jpg"),
        ("mp4", MediaFormat.Fmp4, $"/ws/{name}/mp4"),
        ("h264", MediaFormat.Fmp4, $"/ws/{name}/h264"),
        ("ts", MediaFormat.MpegTs, $"/ws/{name}/ts"),
        ("hls", MediaFormat.Fmp4, $"/hls/{name}/index.m3u8"),
        // WHEP's route takes one path segment.
        .. (name.Contains('/', StringComparison.Ordinal) ? Array.Empty<(string View, MediaFormat Format, string Path)>() : new[] { ("whep", MediaFormat.RtpH264, $"/{name}/whep") }),
    ];

    /// <summary>
    /// The transforms a feed of <paramref name="own"/> runs through to be watched as <paramref name="format"/> (empty
    /// for its own format), or null when it is not offered: no chain, or a chain through JPEG without libjpeg-turbo.
    /// </summary>
    public static IReadOnlyList<string>? Offers(FeedViews views, MediaFormat own, MediaFormat format)
    {
        if (own == MediaFormat.Unknown || FeedViews.Chain(own, format) is not { } chain)
        {
            return null;
        }

        // libjpeg-turbo does the JPEG encoder's and decoder's work; ffmpeg does the H.264 decoder's.
        return views.Jpeg.Available || !chain.Any(part => part is "jpegEncoder" or "jpegDecoder") ? chain : null;
    }

    /// <summary>The counters of every part of the feed: its source, then the views a viewer has made.</summary>
    private static List<PartCounters> CollectParts(SourceSupervisor? supervisor, IEnumerable<LazyFeed> views)
    {
        var parts = new List<PartCounters>();
        if (supervisor?.Source is ICounted source)
        {
            parts.Add(source.ReadCounters());
        }

        foreach (var view in views.OrderBy(v => v.PartName, StringComparer.Ordinal))
        {
            parts.Add(view.ReadCounters());
        }

        return parts;
    }
}

/// <summary>A raw feed's JPEG encoder: frames encoded once each, whatever the number of viewers.</summary>
internal sealed record JpegViewDto(long EncodedFrames, long SkippedFrames, long FailedFrames, int Viewers, bool Running, int Workers);

/// <summary>An error body: <c>{"error": "..."}</c>.</summary>
internal sealed record ErrorDto(string Error);

/// <summary>The health body.</summary>
internal sealed record HealthDto(string Status, int Feeds, double UptimeSeconds, int Connections, long ConnectionsRefused);

/// <summary>One running HLS stream (<c>GET /api/hls</c>): its window and the requests it answered, by kind.</summary>
internal sealed record HlsStreamDto(
    string Feed, long Stream, double UptimeSeconds, double IdleSeconds, long FirstMsn, long LiveMsn, int Segments, long Bytes,
    long PartsMade, long SegmentsMade, long DroppedFrames, long BadFragments, long MultivariantRequests, long PlaylistRequests,
    long BlockingPlaylistRequests, long PartRequests, long SegmentRequests, long InitRequests, long Refused, long TimedOut);

/// <summary>The JSON options of every API response.</summary>
internal static class OspreyJson
{
    /// <summary>
    /// Source-generated (trim- and AOT-safe), with relaxed escaping so that messages and source URIs read as
    /// written ('name', a&amp;b) instead of \u0027 and \u0026; these bodies are JSON, never embedded in HTML.
    /// </summary>
    public static OspreyJsonContext Context { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

/// <summary>Source-generated JSON type information.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(FeedDto))]
[JsonSerializable(typeof(List<FeedDto>))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(HealthDto))]
[JsonSerializable(typeof(OpenMvStats))]
[JsonSerializable(typeof(PartCounters))]
[JsonSerializable(typeof(List<HlsStreamDto>))]
internal sealed partial class OspreyJsonContext : JsonSerializerContext;
