using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// The derived views of feeds: a feed in another format (raw ⇄ JPEG, raw → H.264, JPEG → raw → H.264, H.264 → JPEG,
/// H.264 → fMP4 or BerryMSE fragments), made once per feed and format on first request, kept for the feed's life, and running only while
/// read. Disposing it stops every view; the feeds they read stay.
/// </summary>
public sealed class FeedViews : IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Feed, MediaFormat Format), LazyFeed> _views = new();
    private readonly Lock _viewLock = new();
    private readonly ILogger _logger;
    private int _disposed;

    /// <summary>Creates an empty view table.</summary>
    public FeedViews(ILoggerFactory loggerFactory, JpegSettings? jpeg = null)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger("Osprey.Transforms");
        Jpeg = jpeg ?? new JpegSettings();
    }

    /// <summary>The views' feeds made so far (running or not).</summary>
    public IReadOnlyList<Feed> Outputs => [.. _views.Values.Select(view => view.Output)];

    /// <summary>JPEG encoding settings, and whether libjpeg-turbo is there at all.</summary>
    public JpegSettings Jpeg { get; }

    /// <summary>
    /// The feed to read for <paramref name="feed"/> in <paramref name="format"/>: the feed itself when it already
    /// is, else its lazy derived feed. Null, with a reason, when no conversion exists or a codec is missing.
    /// </summary>
    public Feed? GetView(Feed feed, MediaFormat format, out string? error)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var own = feed.Info.Format;
        error = null;
        if (own == format)
        {
            return feed;
        }

        if (Chain(own, format) is null)
        {
            error = $"feed '{feed.Name}' carries {own.ToApiName()}, which cannot be shown as {format.ToApiName()}";
            return null;
        }

        var raw = own is MediaFormat.Yuyv or MediaFormat.Nv12;
        if (!Jpeg.Available && (format == MediaFormat.Jpeg || own == MediaFormat.Jpeg || (format == MediaFormat.Yuyv && own == MediaFormat.H264)))
        {
            // Every path through JPEG needs libjpeg-turbo, except H.264 decoded to JPEG by ffmpeg.
            if (!(format == MediaFormat.Jpeg && own == MediaFormat.H264))
            {
                error = Jpeg.UnavailableReason ?? "JPEG support is not available.";
                return null;
            }
        }

        switch (format)
        {
            case MediaFormat.Jpeg when raw:
                return GetOrAddView(feed, format, () => new JpegEncodeTransform(feed, Jpeg.Quality, _logger), out error);
            case MediaFormat.Jpeg:
                // H.264: decoded by one ffmpeg child, straight to JPEG.
                return GetOrAddView(feed, format, () => new H264DecodeTransform(feed, Jpeg.Quality, _logger), out error);
            case MediaFormat.Yuyv when own == MediaFormat.Jpeg:
                return GetOrAddView(feed, format, () => new JpegDecodeTransform(feed, _logger), out error);
            case MediaFormat.Yuyv:
                // H.264 → JPEG → raw: the JPEG view is there for JPEG viewers anyway; raw ones are rare.
                return GetView(feed, MediaFormat.Jpeg, out error) is { } jpegView
                    ? GetOrAddView(feed, format, () => new JpegDecodeTransform(jpegView, _logger), out error)
                    : null;
            case MediaFormat.H264 when raw:
                return GetOrAddView(feed, format, () => new H264EncodeTransform(feed, _logger), out error);
            case MediaFormat.RtpH264:
                var source = GetView(feed, MediaFormat.H264, out error);
                return source is null ? null : GetOrAddView(feed, format, () => new RtpPacketizer(source, _logger), out error);
            case MediaFormat.H264:
                // JPEG → raw → H.264: decoded once (the raw view, shared with raw viewers), encoded once.
                return GetView(feed, MediaFormat.Yuyv, out error) is { } decoded
                    ? GetOrAddView(feed, format, () => new H264EncodeTransform(decoded, _logger), out error)
                    : null;
            default:
                var h264 = GetView(feed, MediaFormat.H264, out error);
                if (h264 is null)
                {
                    return null;
                }

                return GetOrAddView(feed, format, () => format == MediaFormat.Fmp4 ? new Fmp4Muxer(h264, _logger) : new BerryMseMuxer(h264, _logger), out error);
        }
    }

    /// <summary>The RTP packetizer of <paramref name="feed"/> (made on first use, shared by its WebRTC viewers); null with a reason when the feed cannot be H.264.</summary>
    public RtpPacketizer? GetRtpPacketizer(Feed feed, out string? error)
    {
        ArgumentNullException.ThrowIfNull(feed);
        if (GetView(feed, MediaFormat.RtpH264, out error) is null)
        {
            return null;
        }

        return _views.TryGetValue((feed.Name, MediaFormat.RtpH264), out var view) ? view as RtpPacketizer : null;
    }

    /// <summary>
    /// The transforms a feed carrying <paramref name="own"/> goes through to be seen as <paramref name="format"/>, by
    /// their <see cref="LazyFeed.PartName"/>, first to last: empty when it already is, null when no chain exists.
    /// </summary>
    public static IReadOnlyList<string>? Chain(MediaFormat own, MediaFormat format)
    {
        if (own == format)
        {
            return [];
        }

        var raw = own is MediaFormat.Yuyv or MediaFormat.Nv12;
        return format switch
        {
            MediaFormat.Jpeg when raw => ["jpegEncoder"],
            MediaFormat.Jpeg when own == MediaFormat.H264 => ["h264Decoder"],
            MediaFormat.Yuyv when own == MediaFormat.Jpeg => ["jpegDecoder"],
            MediaFormat.Yuyv when own == MediaFormat.H264 => ["h264Decoder", "jpegDecoder"],
            MediaFormat.H264 when raw => ["h264Encoder"],
            MediaFormat.H264 when own == MediaFormat.Jpeg => ["jpegDecoder", "h264Encoder"],
            MediaFormat.Fmp4 or MediaFormat.BerryMse when Chain(own, MediaFormat.H264) is { } h264 =>
                [.. h264, format == MediaFormat.Fmp4 ? "fmp4Muxer" : "berryMseMuxer"],
            MediaFormat.RtpH264 when Chain(own, MediaFormat.H264) is { } h264 => [.. h264, "webrtc"],
            _ => null,
        };
    }

    /// <summary>The views of the feed <paramref name="name"/> that a viewer has made, in no particular order.</summary>
    public IEnumerable<LazyFeed> ViewsOf(string name)
    {
        foreach (var (key, view) in _views)
        {
            if (key.Feed == name)
            {
                yield return view;
            }
        }
    }

    /// <summary>
    /// The people watching <paramref name="feed"/> in any form: readers of the feed and of all its derived views
    /// (JPEG, H.264, fMP4, ...), less the readers the running views themselves hold on what they read.
    /// </summary>
    public int CountViewers(Feed feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var viewers = feed.ReaderCount;
        foreach (var view in ViewsOf(feed.Name))
        {
            viewers += view.Output.ReaderCount;
            if (view.IsRunning)
            {
                viewers -= view.SourceReaders;
            }
        }

        return Math.Max(0, viewers);
    }

    private Feed? GetOrAddView(Feed feed, MediaFormat format, Func<LazyFeed> create, out string? error)
    {
        lock (_viewLock)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                error = "the server is stopping";
                return null;
            }

            error = null;
            return _views.GetOrAdd((feed.Name, format), _ => create()).Output;
        }
    }

    /// <summary>Stops every view, views of views (fMP4 of H.264 of raw) before what they read.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_viewLock)
        {
            // Taken so that no view is made while they are being disposed.
        }

        // Views of views first (fMP4 of H.264 of decoded JPEG): a view goes when no remaining view reads it.
        var remaining = _views.Values.ToList();
        while (remaining.Count > 0)
        {
            var leaves = remaining.Where(v => !remaining.Any(o => ReferenceEquals(o.Source, v.Output))).ToList();
            if (leaves.Count == 0)
            {
                leaves = [.. remaining]; // cannot happen: views form chains
            }

            foreach (var view in leaves)
            {
                await view.DisposeAsync();
                remaining.Remove(view);
            }
        }
    }
}
