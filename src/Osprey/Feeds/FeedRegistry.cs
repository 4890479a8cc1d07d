using System.Collections.Concurrent;

namespace Osprey.Feeds;

/// <summary>
/// The server's feeds by name: the ones configured sources own (<see cref="AddOwnedFeed"/>) and the ones
/// publishers claim (<see cref="TryClaimPublisher"/>). Owns the feeds: disposing the registry ends every feed
/// (which wakes and ends every reader), so it is disposed after the sources and views that use them.
/// </summary>
public sealed class FeedRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Feed> _feeds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _owned = new(StringComparer.Ordinal);
    private readonly Lock _orderLock = new();
    private readonly List<string> _order = [];
    private readonly ConcurrentDictionary<string, PublisherClaim> _publishers = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    // Serialises making, claiming and removing publisher feeds, so that a feed being removed is never claimed.
    private readonly Lock _claimLock = new();
    private readonly Dictionary<string, long> _idleSince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<TaskCompletionSource>> _waiters = new(StringComparer.Ordinal);
    private ITimer? _sweep;
    private long _refusedFeeds;
    private long _removedFeeds;
    private long _timedOutPublishers;
    private long _takenOver;
    private long _refusedPublishers;
    private int _disposed;

    /// <summary>Creates an empty registry.</summary>
    public FeedRegistry(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The default of <see cref="MaxPublisherFeeds"/>: a Raspberry Pi holds this many idle feeds easily.</summary>
    public const int DefaultMaxPublisherFeeds = 64;

    /// <summary>The default of <see cref="PublisherFeedTtl"/>.</summary>
    public static readonly TimeSpan DefaultPublisherFeedTtl = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The most feeds publishers may make (configured sources' feeds do not count): each keeps a cache of up to
    /// <see cref="StreamGroupOfPicturesFrames"/> chunks, so names from clients must not pile up. A publisher of a
    /// new name past it is refused (<see cref="ClaimRefusal.Limit"/>).
    /// </summary>
    public int MaxPublisherFeeds
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = DefaultMaxPublisherFeeds;

    /// <summary>
    /// How long a feed a publisher made stays with neither a publisher nor a reader before it is removed (its
    /// frames back to the pool, its name free); <see cref="Timeout.InfiniteTimeSpan"/> keeps them for ever.
    /// </summary>
    public TimeSpan PublisherFeedTtl
    {
        get;
        init
        {
            if (value != Timeout.InfiniteTimeSpan)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            }

            field = value;
        }
    } = DefaultPublisherFeedTtl;

    /// <summary>The default of <see cref="PublisherFirstBytesTimeout"/>.</summary>
    public static readonly TimeSpan DefaultPublisherFirstBytesTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The default of <see cref="PublisherIdleTimeout"/>.</summary>
    public static readonly TimeSpan DefaultPublisherIdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a publisher may hold its claim before its first bytes: one that sends headers and no body (or an
    /// idle <c>/in/</c> socket) would otherwise keep the name from everyone for ever. The ingest routes enforce it.
    /// </summary>
    public TimeSpan PublisherFirstBytesTimeout { get; init; } = DefaultPublisherFirstBytesTimeout;

    /// <summary>How long a publisher may send nothing after its first bytes before its claim is released.</summary>
    public TimeSpan PublisherIdleTimeout { get; init; } = DefaultPublisherIdleTimeout;

    /// <summary>
    /// What a second publisher of a feed gets: false (the default) a refusal (409); true the feed, the first
    /// publisher's claim being revoked (<see cref="PublisherClaim.Revoked"/>) and its connection ended, as
    /// MediaMTX's overridePublisher.
    /// </summary>
    public bool PublisherTakeover { get; init; }

    /// <summary>Publishers whose claim was released because they sent nothing in time.</summary>
    public long TimedOutPublishers => Interlocked.Read(ref _timedOutPublishers);

    /// <summary>Publishers disconnected because another took their feed over.</summary>
    public long TakenOverPublishers => Interlocked.Read(ref _takenOver);

    /// <summary>Publishers refused for any reason: a taken or shadowing name, an invalid one, the limit, a stopping server.</summary>
    public long RefusedPublishers => Interlocked.Read(ref _refusedPublishers);

    /// <summary>Counts a publisher let go for sending nothing in time (the ingest route that timed it out calls this).</summary>
    public void CountPublisherTimeout() => Interlocked.Increment(ref _timedOutPublishers);

    /// <summary>Feeds publishers made that exist now.</summary>
    public int PublisherFeeds
    {
        get
        {
            lock (_orderLock)
            {
                return _order.Count(name => !_owned.ContainsKey(name));
            }
        }
    }

    /// <summary>Publishers refused because <see cref="MaxPublisherFeeds"/> feeds existed.</summary>
    public long RefusedFeeds => Interlocked.Read(ref _refusedFeeds);

    /// <summary>Publisher feeds removed after <see cref="PublisherFeedTtl"/> without publisher or readers.</summary>
    public long RemovedFeeds => Interlocked.Read(ref _removedFeeds);

    /// <summary>
    /// Completes when a feed named <paramref name="name"/> exists (at once if it does): what waits for a feed that
    /// is not there yet (a stream's input) is woken by the feed being added, not by looking again and again.
    /// </summary>
    public async Task WaitForFeedAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        TaskCompletionSource waiter;
        lock (_waiters)
        {
            if (_feeds.TryGetValue(name, out var feed) && !feed.IsCompleted)
            {
                return;
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_waiters.TryGetValue(name, out var list))
            {
                _waiters[name] = list = [];
            }

            list.Add(waiter);
        }

        using var registration = cancellationToken.Register(() =>
        {
            lock (_waiters)
            {
                // The table holds only live waiters: names from clients must not accumulate here either.
                if (_waiters.TryGetValue(name, out var list) && list.Remove(waiter) && list.Count == 0)
                {
                    _waiters.Remove(name);
                }
            }

            waiter.TrySetCanceled(cancellationToken);
        });
        await waiter.Task;
    }

    /// <summary>Names waited for now (for leak checks).</summary>
    internal int WaitedNames
    {
        get
        {
            lock (_waiters)
            {
                return _waiters.Count;
            }
        }
    }

    private void SignalAdded(string name)
    {
        List<TaskCompletionSource>? list;
        lock (_waiters)
        {
            _waiters.Remove(name, out list);
        }

        foreach (var waiter in list ?? [])
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>The clock feeds are made with.</summary>
    public TimeProvider Time => _time;

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

    /// <summary>True when a configured source holds the name: publishers may never take it over.</summary>
    public bool IsHeldBySource(string name) => _owned.ContainsKey(name);

    /// <summary>
    /// Last name segments a publisher or a stream rule may not end in: the server's view routes
    /// (<c>/ws/{feed}/raw</c>, <c>/jpeg</c>, ...) read them as a view of the feed before, so a feed
    /// <c>test/raw</c> would be what viewers of <c>/ws/test/raw</c> get instead of feed <c>test</c>'s frames.
    /// </summary>
    public IReadOnlySet<string> ReservedLastSegments { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Why a client (a publisher, a stream rule) may not give a new feed or stream the name <paramref name="name"/>
    /// because it would shadow another's URL: it ends in a view route's suffix, or a configured source holds it.
    /// </summary>
    /// <returns>The reason in plain words, or null when the name shadows nothing.</returns>
    public string? ShadowedBy(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var slash = name.LastIndexOf('/');
        if (slash >= 0 && ReservedLastSegments.Contains(name[(slash + 1)..]))
        {
            return $"'{name}' ends in '/{name[(slash + 1)..]}', which /ws/{name[..slash]}/{name[(slash + 1)..]} reads as a view of feed '{name[..slash]}'; name it otherwise";
        }

        return IsHeldBySource(name)
            ? $"'{name}' belongs to a configured source ({(_feeds.TryGetValue(name, out var owned) ? owned.SourceUri : "?")}); name it otherwise"
            : null;
    }

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
    /// <returns>The claim, or null with <paramref name="error"/> and why in <paramref name="refusal"/>.</returns>
    public PublisherClaim? TryClaimPublisher(string name, VideoInfo info, string publisher, out string? error, out ClaimRefusal refusal)
    {
        var claim = Claim(name, info, publisher, out error, out refusal);
        if (claim is null)
        {
            Interlocked.Increment(ref _refusedPublishers);
        }

        return claim;
    }

    private PublisherClaim? Claim(string name, VideoInfo info, string publisher, out string? error, out ClaimRefusal refusal)
    {
        refusal = ClaimRefusal.InvalidName;
        if (!FeedNames.IsValid(name))
        {
            error = $"Feed name '{name}' {FeedNames.Rule}.";
            return null;
        }

        refusal = ClaimRefusal.Shadowing;
        if (ShadowedBy(name) is { } shadowed)
        {
            error = $"Feed name {shadowed}.";
            return null;
        }

        refusal = ClaimRefusal.Stopping;
        if (Volatile.Read(ref _disposed) != 0)
        {
            error = "the server is stopping";
            return null;
        }

        PublisherClaim claim;
        PublisherClaim? revoked = null;
        bool added;
        lock (_claimLock)
        {
            added = false;
            if (!_feeds.TryGetValue(name, out var feed))
            {
                if (PublisherFeeds >= MaxPublisherFeeds)
                {
                    Interlocked.Increment(ref _refusedFeeds);
                    refusal = ClaimRefusal.Limit;
                    error = $"This server holds {MaxPublisherFeeds} published feeds already (--max-feeds); publish to an existing name or try again later.";
                    return null;
                }

                feed = new Feed(name, time: _time) { KeepGroupOfPictures = true, MaxGroupOfPicturesFrames = StreamGroupOfPicturesFrames, Info = info };
                _feeds[name] = feed;
                added = true;
            }

            refusal = ClaimRefusal.Taken;
            claim = new PublisherClaim(this, feed, publisher);
            if (!_publishers.TryAdd(name, claim))
            {
                if (!PublisherTakeover || !_publishers.TryGetValue(name, out var previous))
                {
                    error = $"Feed '{name}' already has a publisher ({_publishers.GetValueOrDefault(name)?.Publisher ?? "?"}); one publisher per feed.";
                    return null;
                }

                // Replaced under the lock; the old claim's own release then finds another claim and leaves it be.
                _publishers[name] = claim;
                revoked = previous;
            }

            _idleSince.Remove(name);
            if (added)
            {
                lock (_orderLock)
                {
                    _order.Add(name);
                }

                StartSweep();
            }
        }

        if (added)
        {
            SignalAdded(name);
        }

        if (revoked is not null)
        {
            // Outside the lock: cancelling runs the old connection's callbacks.
            Interlocked.Increment(ref _takenOver);
            revoked.Revoke();
        }

        error = null;
        refusal = ClaimRefusal.None;
        claim.Feed.Info = info;
        claim.Feed.SetState(FeedState.Starting, $"publisher {publisher} connected");
        return claim;
    }

    internal void ReleasePublisher(PublisherClaim claim)
    {
        if (_publishers.TryRemove(new KeyValuePair<string, PublisherClaim>(claim.Feed.Name, claim)))
        {
            // Viewers stay; a stale group of pictures must not be what the next viewer starts with.
            claim.Feed.ClearLatest();
            claim.Feed.SetState(FeedState.Waiting, "publisher disconnected; waiting for the next one");
            lock (_claimLock)
            {
                _idleSince[claim.Feed.Name] = _time.GetTimestamp();
            }
        }
    }

    private void StartSweep()
    {
        if (_sweep is null && PublisherFeedTtl != Timeout.InfiniteTimeSpan)
        {
            // One timer for the registry, not one per feed: a quarter of the grace period, at most every 5 s.
            var period = TimeSpan.FromTicks(Math.Clamp(PublisherFeedTtl.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(5).Ticks));
            _sweep = _time.CreateTimer(static state => ((FeedRegistry)state!).Sweep(), this, period, period);
        }
    }

    /// <summary>Removes publisher feeds idle (no publisher, no reader) for <see cref="PublisherFeedTtl"/>.</summary>
    internal void Sweep()
    {
        var removed = new List<Feed>();
        lock (_claimLock)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            var now = _time.GetTimestamp();
            foreach (var feed in _feeds.Values)
            {
                if (_owned.ContainsKey(feed.Name))
                {
                    continue;
                }

                if (_publishers.ContainsKey(feed.Name) || feed.ReaderCount > 0)
                {
                    _idleSince.Remove(feed.Name);
                }
                else if (!_idleSince.TryGetValue(feed.Name, out var since))
                {
                    _idleSince[feed.Name] = now;
                }
                else if (_time.GetElapsedTime(since, now) >= PublisherFeedTtl)
                {
                    removed.Add(feed);
                }
            }

            foreach (var feed in removed)
            {
                _feeds.TryRemove(feed.Name, out _);
                _idleSince.Remove(feed.Name);
                lock (_orderLock)
                {
                    _order.Remove(feed.Name);
                }
            }
        }

        foreach (var feed in removed)
        {
            Interlocked.Increment(ref _removedFeeds);
            feed.Dispose(); // its latched frame and group of pictures go back to its pool
        }
    }

    /// <summary>
    /// Adds the feed a configured source owns (see <c>SourceHost</c>): no publisher may claim its name.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a valid feed name.</exception>
    /// <exception cref="InvalidOperationException">A feed of that name exists already.</exception>
    public Feed AddOwnedFeed(string name, string sourceUri, VideoInfo expectedInfo)
    {
        if (!FeedNames.IsValid(name))
        {
            throw new ArgumentException($"Feed name '{name}' {FeedNames.Rule}.", nameof(name));
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            throw new InvalidOperationException("The server is stopping.");
        }

        var feed = new Feed(name, time: _time) { SourceUri = sourceUri, Info = expectedInfo };
        if (!_feeds.TryAdd(name, feed))
        {
            feed.Dispose();
            throw new InvalidOperationException($"Feed '{name}' already exists.");
        }

        _owned[name] = true;
        lock (_orderLock)
        {
            _order.Add(name);
        }

        SignalAdded(name);
        return feed;
    }

    /// <summary>
    /// Removes the feed a configured source owned (the source was removed from the configuration): its viewers'
    /// readers end and its frames go back to the pool. Stop the source first.
    /// </summary>
    /// <returns>False when no source owns a feed of that name.</returns>
    public bool RemoveOwnedFeed(string name)
    {
        if (!_owned.TryRemove(name, out _) || !_feeds.TryRemove(name, out var feed))
        {
            return false;
        }

        lock (_orderLock)
        {
            _order.Remove(name);
        }

        feed.Dispose();
        return true;
    }

    /// <summary>Ends every feed. Stop the sources and views that use them first.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }

        lock (_claimLock)
        {
            _sweep?.Dispose();
        }

        foreach (var feed in _feeds.Values)
        {
            feed.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>Why <see cref="FeedRegistry.TryClaimPublisher"/> gave no claim.</summary>
public enum ClaimRefusal
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>The name is not a valid feed name (<see cref="FeedNames.Rule"/>).</summary>
    InvalidName,

    /// <summary>The name would shadow another feed's URL or belongs to a configured source (<see cref="FeedRegistry.ShadowedBy"/>).</summary>
    Shadowing,

    /// <summary>Another publisher feeds the name now.</summary>
    Taken,

    /// <summary>The server is stopping.</summary>
    Stopping,

    /// <summary>A new name, and <see cref="FeedRegistry.MaxPublisherFeeds"/> publisher feeds exist already.</summary>
    Limit,
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

    private readonly CancellationTokenSource _revoked = new();

    /// <summary>Cancelled when another publisher took the feed over (<see cref="FeedRegistry.PublisherTakeover"/>): stop publishing and disconnect.</summary>
    public CancellationToken Revoked => _revoked.Token;

    /// <summary>True once <see cref="Revoked"/> is cancelled.</summary>
    public bool IsRevoked => _revoked.IsCancellationRequested;

    internal void Revoke()
    {
        try
        {
            _revoked.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The publisher left in the meantime.
        }
    }

    /// <summary>The feed published to.</summary>
    public Feed Feed { get; }

    /// <summary>The registry the claim is from (its timeouts apply to the publisher).</summary>
    public FeedRegistry Registry => _registry;

    /// <summary>Who publishes (a remote address), for messages.</summary>
    public string Publisher { get; }

    /// <summary>Gives the feed up: it waits for the next publisher.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _registry.ReleasePublisher(this);
            _revoked.Dispose();
        }
    }
}
