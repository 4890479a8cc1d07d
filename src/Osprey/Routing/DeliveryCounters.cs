using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Routing;

/// <summary>
/// What a destination has sent and what it lost: bytes and messages out, and frames dropped, counted by sequence
/// number across reconnects and feed switches so that a frame is counted once whichever way it was lost.
/// </summary>
/// <remarks>
/// Thread safety: the push loop alone changes it; <see cref="Drops"/> and the totals are read from any thread
/// (the drop accounting is under a lock, the totals are interlocked).
/// </remarks>
internal sealed class DeliveryCounters
{
    private readonly Lock _lock = new();

    // Under _lock: the push loop's accounting, read by Drops.
    private long _drops;
    private long _carriedSkips;
    private OrderedFeedReader? _reader;
    private long _readerSkipsCounted;
    private long _lastSent;

    // Push loop only.
    private Feed? _lastFeed;

    private long _bytesSent;
    private long _messagesSent;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long MessagesSent => Interlocked.Read(ref _messagesSent);

    /// <summary>Frames published and never sent, including skips the next frame sent has not yet accounted.</summary>
    public long Drops
    {
        get
        {
            lock (_lock)
            {
                return _drops + _carriedSkips + PendingSkips();
            }
        }
    }

    public void CountSent(int bytes)
    {
        Interlocked.Add(ref _bytesSent, bytes);
        Interlocked.Increment(ref _messagesSent);
    }

    /// <summary>Starts reading <paramref name="feed"/> with <paramref name="reader"/>.</summary>
    public void Attach(Feed feed, OrderedFeedReader reader)
    {
        if (!ReferenceEquals(feed, _lastFeed))
        {
            SwitchFeed(feed);
        }

        lock (_lock)
        {
            _reader = reader;
            // Frames skipped while the cached group of pictures was queued may be ones already sent: they are
            // accounted by sequence number when the next frame goes, not as this reader's skips.
            _readerSkipsCounted = reader.SkippedFrames;
        }
    }

    /// <summary>
    /// True when <paramref name="frame"/> went out before: a reconnect starts from the cached group of pictures,
    /// which overlaps what the relay has already been sent.
    /// </summary>
    /// <remarks>Read without the lock: only the push loop writes the last sequence sent.</remarks>
    public bool WasSent(Frame frame) => frame.Sequence <= _lastSent;

    /// <summary>
    /// Records that <paramref name="frame"/> was sent; <paramref name="skippedBefore"/> is the reader's skip count
    /// read before the frame was taken, so every skip it includes is of an older frame.
    /// </summary>
    public void Sent(Frame frame, long skippedBefore)
    {
        CountSent(frame.Length);
        lock (_lock)
        {
            if (_lastSent > 0)
            {
                _drops += frame.Sequence - _lastSent - 1;
            }

            _carriedSkips = 0;
            _readerSkipsCounted = skippedBefore;
            _lastSent = frame.Sequence;
        }
    }

    /// <summary>Stops reading <paramref name="feed"/>: its reader is closed.</summary>
    public void Detach(Feed feed)
    {
        lock (_lock)
        {
            // Skips not yet accounted stay visible until the next frame sent accounts them by sequence.
            _carriedSkips += PendingSkips();
            _reader = null;
        }

        if (feed.IsCompleted)
        {
            SwitchFeed(null);
        }
    }

    /// <summary>
    /// Moves the accounting to another feed (or to none when the current one ended): whatever the old feed
    /// published after the last frame sent was never sent.
    /// </summary>
    private void SwitchFeed(Feed? feed)
    {
        lock (_lock)
        {
            if (_lastFeed is not null && _lastSent > 0)
            {
                _drops += Math.Max(0, _lastFeed.LatestSequence - _lastSent);
            }

            _carriedSkips = 0;
            _lastSent = 0;
        }

        _lastFeed = feed;
    }

    /// <summary>Under <see cref="_lock"/>: frames the current reader skipped since the last frame sent.</summary>
    private long PendingSkips() =>
        _reader is { } reader && _lastSent > 0 ? Math.Max(0, reader.SkippedFrames - _readerSkipsCounted) : 0;
}
