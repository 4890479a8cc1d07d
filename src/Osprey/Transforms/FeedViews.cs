using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// The derived views of feeds: a feed in another format (raw ⇄ JPEG, raw → H.264, H.264 → fMP4 or BerryMSE
/// fragments), made once per feed and format on first request, kept for the feed's life, and running only while
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

        var raw = own is MediaFormat.Yuyv or MediaFormat.Nv12;
        switch (format)
        {
            case MediaFormat.Jpeg when raw:
            case MediaFormat.Yuyv when own == MediaFormat.Jpeg:
                if (!Jpeg.Available)
                {
                    error = Jpeg.UnavailableReason ?? "JPEG support is not available.";
                    return null;
                }

                return GetOrAddView(feed, format, () => format == MediaFormat.Jpeg
                    ? new JpegEncodeTransform(feed, Jpeg.Quality, _logger)
                    : new JpegDecodeTransform(feed, _logger), out error);
            case MediaFormat.H264 when own == MediaFormat.Yuyv:
                return GetOrAddView(feed, format, () => new H264EncodeTransform(feed, _logger), out error);
            case MediaFormat.RtpH264:
                var source = GetView(feed, MediaFormat.H264, out error);
                return source is null ? null : GetOrAddView(feed, format, () => new RtpPacketizer(source, _logger), out error);
            case MediaFormat.Fmp4 or MediaFormat.BerryMse:
                var h264 = GetView(feed, MediaFormat.H264, out error);
                if (h264 is null)
                {
                    return null;
                }

                return GetOrAddView(feed, format, () => format == MediaFormat.Fmp4 ? new Fmp4Muxer(h264, _logger) : new BerryMseMuxer(h264, _logger), out error);
            default:
                error = $"feed '{feed.Name}' carries {own.ToApiName()}, which cannot be shown as {format.ToApiName()}";
                return null;
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

        foreach (var view in _views.Where(v => v.Key.Format is MediaFormat.Fmp4 or MediaFormat.BerryMse or MediaFormat.RtpH264).Concat(_views.Where(v => v.Key.Format is not (MediaFormat.Fmp4 or MediaFormat.BerryMse or MediaFormat.RtpH264))))
        {
            await view.Value.DisposeAsync();
        }
    }
}
