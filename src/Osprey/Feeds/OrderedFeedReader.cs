using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>
/// One consumer of a <see cref="Feed"/> in the <em>ordered</em> read mode, for streams whose frames depend on
/// each other (H.264, fMP4 fragments, MPEG-TS): every frame in order through a small bounded queue. A reader
/// that falls so far behind that its queue fills drops what it has queued and skips to the next key frame,
/// never to the middle of a group of pictures; the frames it skipped are counted.
/// </summary>
/// <remarks>
/// <para>A new reader starts at once at the feed's latest key frame: the feed keeps the current group of
/// pictures (<see cref="Feed.KeepGroupOfPictures"/>) and hands it over as the reader's first frames. With
/// <c>startAtNextKeyFrame</c> it waits for the next key frame instead, to start at the live edge.</para>
/// <para>Memory: the queue holds at most <see cref="Capacity"/> frame references and at most <see cref="MaxBytes"/>
/// bytes of them, so a stalled reader costs at most that much (frames that stay out of the pool), and never slows
/// the publisher or other readers. The byte bound matters where frames are large: 2,048 raw 640x480 frames
/// queued for one `/out/` viewer of a raw feed were 1.2 GB.</para>
/// <para>Thread safety: one consumer calls <see cref="SignalledReader.WaitAsync"/> and <see cref="TryDequeue"/>; the feed
/// offers frames from the publisher's thread; <see cref="SignalledReader.Wake"/> and <see cref="Close"/> from any thread.</para>
/// </remarks>
public sealed class OrderedFeedReader : SignalledReader, IFrameReader
{
    private readonly Feed _feed;
    private readonly Lock _lock = new();
    private readonly Frame?[] _queue;
    private int _head;
    private int _count;
    private long _queuedBytes;
    private readonly long _maxBytes;
    private bool _waitingForKeyFrame;
    private bool _fellBehind;
    private long _skipped;
    private long _skipEvents;
    private long _frames;
    private bool _closing; // under _lock: nothing is queued once set

    internal OrderedFeedReader(Feed feed, int capacity, bool waitForKeyFrame, long maxBytes = long.MaxValue)
    {
        _feed = feed;
        _maxBytes = maxBytes;
        _queue = new Frame?[capacity];
        _waitingForKeyFrame = waitForKeyFrame;
    }

    /// <summary>The feed read.</summary>
    public Feed Feed => _feed;

    /// <summary>The most frames queued for this reader.</summary>
    public int Capacity => _queue.Length;

    /// <summary>The most bytes of frames queued for this reader (one frame larger than this is still queued alone).</summary>
    public long MaxBytes => _maxBytes;

    /// <summary>Bytes of the frames queued now.</summary>
    public long QueuedBytes
    {
        get
        {
            lock (_lock)
            {
                return _queuedBytes;
            }
        }
    }

    /// <summary>Frames skipped because the reader fell behind (it then resumed at a key frame).</summary>
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    /// <summary>How many times the reader fell behind and skipped to a key frame.</summary>
    public long SkipEvents => Interlocked.Read(ref _skipEvents);

    /// <summary>Frames taken.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <inheritdoc />
    long IFrameReader.Skipped => SkippedFrames;

    /// <inheritdoc />
    bool IFrameReader.TryTake(out Frame frame) => TryDequeue(out frame);

    /// <summary>Frames queued now.</summary>
    public int Queued
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>Takes the oldest queued frame; the caller owns the reference and must release it.</summary>
    public bool TryDequeue(out Frame frame)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = null!;
                return false;
            }

            frame = _queue[_head]!;
            _queue[_head] = null;
            _head = (_head + 1) % _queue.Length;
            _count--;
            _queuedBytes -= frame.Length;
        }

        Interlocked.Increment(ref _frames);
        return true;
    }

    /// <summary>Stops the reader and gives back every queued frame. Idempotent.</summary>
    public void Close()
    {
        MarkClosed();
        _feed.Detach(this);
    }

    /// <inheritdoc />
    public void Dispose() => Close();

    /// <summary>Called by the feed, under its lock, for each published frame (the reader adds its own reference).</summary>
    /// <returns>True when the frame was queued for a reader that its fan-out lane must wake (the feed does, after its lock).</returns>
    internal bool Offer(Frame frame)
    {
        var signal = false;
        lock (_lock)
        {
            if (_closing)
            {
                return false;
            }

            if (_waitingForKeyFrame)
            {
                if (!frame.IsKeyFrame)
                {
                    _skipped++;
                    if (_fellBehind)
                    {
                        _feed.CountDrops(1);
                    }

                    return false;
                }

                _waitingForKeyFrame = false;
                _fellBehind = false;
            }

            if (_count == _queue.Length || (_count > 0 && _queuedBytes + frame.Length > _maxBytes))
            {
                // Fallen behind: what is queued is now too old to be worth showing, and anything but a key frame
                // would be undecodable after a gap. Drop it all and resume at the next key frame. These skips
                // are the feed's drops too (frames a viewer missed), unlike the wait for a first key frame.
                _skipped += _count;
                _skipEvents++;
                _feed.CountDrops(_count);
                DropQueued();
                if (!frame.IsKeyFrame)
                {
                    _skipped++;
                    _feed.CountDrops(1);
                    _waitingForKeyFrame = true;
                    _fellBehind = true;
                    return false;
                }
            }

            frame.AddReference();
            _queue[(_head + _count) % _queue.Length] = frame;
            _count++;
            _queuedBytes += frame.Length;
            signal = true;
        }

        if (!signal)
        {
            return false;
        }

        if (Lane >= 0)
        {
            return true;
        }

        Signal();
        return false;
    }

    /// <summary>Queues the cached group of pictures for a new reader (called before it is attached).</summary>
    internal void Prime(IReadOnlyList<Frame> groupOfPictures)
    {
        foreach (var frame in groupOfPictures)
        {
            _ = Offer(frame); // not attached yet: no lane, nobody waiting
        }
    }

    internal void MarkClosed()
    {
        lock (_lock)
        {
            _closing = true;
            DropQueued();
        }

        MarkClosedAndSignal();
    }

    private void DropQueued()
    {
        while (_count > 0)
        {
            _queue[_head]!.Release();
            _queue[_head] = null;
            _head = (_head + 1) % _queue.Length;
            _count--;
        }

        _head = 0;
        _queuedBytes = 0;
    }

    /// <inheritdoc />
    protected override bool HasFrames() => Volatile.Read(ref _count) > 0;
}
