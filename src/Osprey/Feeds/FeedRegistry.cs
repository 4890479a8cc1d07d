using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Osprey.Media;
using Osprey.Sources;
using Osprey.Transforms;

namespace Osprey.Feeds;

/// <summary>
/// The server's feeds by name, and the supervisors of the sources that own them. Owns both: disposing the
/// registry stops every source and ends every feed (which wakes and ends every reader).
/// </summary>
public sealed class FeedRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Feed> _feeds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SourceSupervisor> _supervisors = new(StringComparer.Ordinal);
    private readonly Lock _orderLock = new();
    private readonly List<string> _order = [];
    private readonly ConcurrentDictionary<(string Feed, MediaFormat Format), LazyFeed> _views = new();
    private readonly ConcurrentDictionary<string, PublisherClaim> _publishers = new(StringComparer.Ordinal);
    private readonly Lock _viewLock = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private int _disposed;

    /// <summary>Creates an empty registry.</summary>
    public FeedRegistry(ILoggerFactory loggerFactory, TimeProvider? time = null, JpegSettings? jpeg = null)
    {
        _loggerFactory = loggerFactory;
        _time = time ?? TimeProvider.System;
        Jpeg = jpeg ?? new JpegSettings();
    }

    /// <summary>JPEG encoding settings, and whether libjpeg-turbo is there at all.</summary>
    public JpegSettings Jpeg { get; }

    /// <summary>
    /// The feed to read for <paramref name="feed"/> in <paramref name="format"/>: the feed itself when it already
    /// is, else its lazy derived feed (made once, kept for the feed's life, running only while read): raw ⇄ JPEG
    /// through libjpeg-turbo, raw → H.264 through an ffmpeg encoder, H.264 → fMP4 or BerryMSE fragments. Null,
    /// with a reason, when no conversion exists or a codec is missing.
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
        var logger = _loggerFactory.CreateLogger("Osprey.Transforms");
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
                    ? new JpegEncodeTransform(feed, Jpeg.Quality, logger)
                    : new JpegDecodeTransform(feed, logger), out error);
            case MediaFormat.H264 when own == MediaFormat.Yuyv:
                return GetOrAddView(feed, format, () => new H264EncodeTransform(feed, logger), out error);
            case MediaFormat.Fmp4 or MediaFormat.BerryMse:
                var h264 = GetView(feed, MediaFormat.H264, out error);
                if (h264 is null)
                {
                    return null;
                }

                return GetOrAddView(feed, format, () => format == MediaFormat.Fmp4 ? new Fmp4Muxer(h264, logger) : new BerryMseMuxer(h264, logger), out error);
            default:
                error = $"feed '{feed.Name}' carries {own.ToApiName()}, which cannot be shown as {format.ToApiName()}";
                return null;
        }
    }

    /// <summary>The JPEG encoder of a raw feed, if a JPEG viewer ever made one.</summary>
    public bool TryGetJpegTransform(string name, out JpegEncodeTransform transform)
    {
        transform = _views.TryGetValue((name, MediaFormat.Jpeg), out var view) ? view as JpegEncodeTransform ?? null! : null!;
        return transform is not null;
    }

    /// <summary>
    /// The people watching <paramref name="feed"/> in any form: readers of the feed and of all its derived views
    /// (JPEG, H.264, fMP4, ...), less the readers the running views themselves hold on what they read.
    /// </summary>
    public int CountViewers(Feed feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var viewers = feed.ReaderCount;
        foreach (var (key, view) in _views)
        {
            if (key.Feed != feed.Name)
            {
                continue;
            }

            viewers += view.Output.ReaderCount;
            if (view.IsRunning)
            {
                viewers -= view.SourceReaders;
            }
        }

        return Math.Max(0, viewers);
    }

    /// <summary>The derived feed of <paramref name="name"/> in <paramref name="format"/>, if a viewer ever made it.</summary>
    public bool TryGetView(string name, MediaFormat format, out LazyFeed view) => _views.TryGetValue((name, format), out view!);

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

    /// <summary>Feeds in the order they were added.</summary>
    public IReadOnlyList<Feed> Feeds
    {
        get
        {
            lock (_orderLock)
            {
                var feeds = new List<Feed>(_order.Count);
                foreach (var name in _order)
                {
                    if (_feeds.TryGetValue(name, out var feed))
                    {
                        feeds.Add(feed);
                    }
                }

                return feeds;
            }
        }
    }

    /// <summary>The first feed added, the one <c>/eyetoy</c> serves; null when there is none.</summary>
    public Feed? Default
    {
        get
        {
            lock (_orderLock)
            {
                return _order.Count > 0 && _feeds.TryGetValue(_order[0], out var feed) ? feed : null;
            }
        }
    }

    /// <summary>Finds a feed by name.</summary>
    public bool TryGet(string name, out Feed feed) => _feeds.TryGetValue(name, out feed!);

    /// <summary>The supervisor of the source that owns <paramref name="name"/>, if a configured source does.</summary>
    public bool TryGetSupervisor(string name, out SourceSupervisor supervisor) => _supervisors.TryGetValue(name, out supervisor!);

    /// <summary>True when a configured source holds the name: publishers may never take it over.</summary>
    public bool IsHeldBySource(string name) => _supervisors.ContainsKey(name);

    /// <summary>
    /// The most chunks a published byte stream's group-of-pictures cache holds (and a stream viewer queues): an
    /// MPEG-TS chunk is one network read, so a group of pictures is tens to hundreds of them.
    /// </summary>
    public const int StreamGroupOfPicturesFrames = 2048;

    /// <summary>True while a publisher (an ingest connection, a relay's incoming stream) feeds <paramref name="name"/>.</summary>
    public bool HasPublisher(string name) => _publishers.ContainsKey(name);

    /// <summary>The publisher feeding <paramref name="name"/> now, if any.</summary>
    public bool TryGetPublisher(string name, out PublisherClaim claim) => _publishers.TryGetValue(name, out claim!);

    /// <summary>
    /// Gives the feed <paramref name="name"/> to a publisher (an HTTP ingest, a relay's <c>/in/</c> connection),
    /// making the feed on its first publisher. One publisher per feed at a time: a second one is refused, and so
    /// is a name a configured source holds. The feed outlives its publisher (its viewers and the streams that
    /// combine it stay attached and resume with the next publisher); disposing the claim marks it waiting.
    /// </summary>
    /// <returns>The claim, or null with <paramref name="error"/> and <paramref name="conflict"/> (true: the name is taken; false: the name is invalid).</returns>
    public PublisherClaim? TryClaimPublisher(string name, VideoInfo info, string publisher, out string? error, out bool conflict)
    {
        conflict = false;
        if (!FeedNames.IsValid(name))
        {
            error = $"Feed name '{name}' {FeedNames.Rule}.";
            return null;
        }

        conflict = true;
        if (IsHeldBySource(name))
        {
            error = $"Feed '{name}' belongs to a configured source ({(_feeds.TryGetValue(name, out var owned) ? owned.SourceUri : "?")}); publish to another name.";
            return null;
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            error = "the server is stopping";
            return null;
        }

        var added = false;
        if (!_feeds.TryGetValue(name, out var feed))
        {
            // Two first publishers may race here: one feed wins, the other is disposed unseen.
            var fresh = new Feed(name, time: _time) { KeepGroupOfPictures = true, MaxGroupOfPicturesFrames = StreamGroupOfPicturesFrames, Info = info };
            feed = _feeds.GetOrAdd(name, fresh);
            added = ReferenceEquals(feed, fresh);
            if (!added)
            {
                fresh.Dispose();
            }
        }

        var claim = new PublisherClaim(this, feed, publisher);
        if (!_publishers.TryAdd(name, claim))
        {
            error = $"Feed '{name}' already has a publisher ({_publishers.GetValueOrDefault(name)?.Publisher ?? "?"}); one publisher per feed.";
            return null;
        }

        if (added)
        {
            lock (_orderLock)
            {
                _order.Add(name);
            }
        }

        error = null;
        feed.Info = info;
        feed.SetState(FeedState.Starting, $"publisher {publisher} connected");
        return claim;
    }

    internal void ReleasePublisher(PublisherClaim claim)
    {
        if (_publishers.TryRemove(new KeyValuePair<string, PublisherClaim>(claim.Feed.Name, claim)))
        {
            // Viewers stay; a stale group of pictures must not be what the next viewer starts with.
            claim.Feed.ClearLatest();
            claim.Feed.SetState(FeedState.Waiting, "publisher disconnected; waiting for the next one");
        }
    }

    /// <summary>Adds a feed owned by <paramref name="source"/> and starts the source under supervision.</summary>
    public Feed AddSource(string name, IFrameSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!FeedNames.IsValid(name))
        {
            throw new ArgumentException($"Feed name '{name}' {FeedNames.Rule}.", nameof(name));
        }

        var feed = new Feed(name, time: _time) { SourceUri = source.Uri, Info = source.ExpectedInfo };
        if (!_feeds.TryAdd(name, feed))
        {
            feed.Dispose();
            throw new InvalidOperationException($"Feed '{name}' already exists.");
        }

        lock (_orderLock)
        {
            _order.Add(name);
        }

        var supervisor = new SourceSupervisor(source, feed, _loggerFactory.CreateLogger("Osprey.Sources"), _time);
        _supervisors[name] = supervisor;
        supervisor.Start();
        return feed;
    }

    /// <summary>Stops every source, then ends every feed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var supervisor in _supervisors.Values)
        {
            await supervisor.DisposeAsync();
        }

        lock (_viewLock)
        {
            // Taken so that no view is made while they are being disposed.
        }

        // Derived views of derived views (fMP4 of H.264 of raw) stop before what they read.
        foreach (var view in _views.Where(v => v.Key.Format is MediaFormat.Fmp4 or MediaFormat.BerryMse).Concat(_views.Where(v => v.Key.Format is not (MediaFormat.Fmp4 or MediaFormat.BerryMse))))
        {
            await view.Value.DisposeAsync();
        }

        foreach (var feed in _feeds.Values)
        {
            feed.Dispose();
        }
    }
}

/// <summary>A publisher's hold on a feed (see <see cref="FeedRegistry.TryClaimPublisher"/>); dispose when it leaves.</summary>
public sealed class PublisherClaim : IDisposable
{
    private readonly FeedRegistry _registry;
    private int _disposed;

    internal PublisherClaim(FeedRegistry registry, Feed feed, string publisher)
    {
        _registry = registry;
        Feed = feed;
        Publisher = publisher;
    }

    /// <summary>The feed published to.</summary>
    public Feed Feed { get; }

    /// <summary>Who publishes (a remote address), for messages.</summary>
    public string Publisher { get; }

    /// <summary>Gives the feed up: it waits for the next publisher.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _registry.ReleasePublisher(this);
        }
    }
}

/// <summary>How JPEG is made, and whether it can be.</summary>
public sealed record JpegSettings
{
    /// <summary>JPEG quality 1-100 for encoded frames (default 80).</summary>
    public int Quality { get; init; } = 80;

    /// <summary>False when libjpeg-turbo could not be loaded.</summary>
    public bool Available { get; init; } = true;

    /// <summary>Why JPEG is unavailable, naming the package to install.</summary>
    public string? UnavailableReason { get; init; }
}
