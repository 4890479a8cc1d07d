using System.Threading.Tasks.Sources;
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
/// <para>Memory: the queue holds at most <see cref="Capacity"/> frame references, so a stalled reader costs at
/// most that many frames (which stay out of the pool), and never slows the publisher or other readers.</para>
/// <para>Thread safety: one consumer calls <see cref="WaitAsync"/> and <see cref="TryDequeue"/>; the feed
/// offers frames from the publisher's thread; <see cref="Wake"/> and <see cref="Close"/> from any thread.</para>
/// </remarks>
public sealed class OrderedFeedReader : IValueTaskSource<bool>, IFrameReader
{
    private const int Idle = 0;
    private const int Waiting = 1;

    private readonly Feed _feed;
    private readonly Lock _lock = new();
    private readonly Frame?[] _queue;
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _head;
    private int _count;
    private int _state;
    private bool _waitingForKeyFrame;
    private long _skipped;
    private long _skipEvents;
    private long _frames;
    private volatile bool _closed;
    private volatile bool _woken;

    internal OrderedFeedReader(Feed feed, int capacity, bool waitForKeyFrame)
    {
        _feed = feed;
        _queue = new Frame?[capacity];
        _waitingForKeyFrame = waitForKeyFrame;
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>The feed read.</summary>
    public Feed Feed => _feed;

    /// <summary>The most frames queued for this reader.</summary>
    public int Capacity => _queue.Length;

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

    /// <summary>True once closed.</summary>
    public bool IsClosed => _closed;

    /// <summary>Waits until a frame is queued or <see cref="Wake"/> is called; false once closed.</summary>
    public ValueTask<bool> WaitAsync()
    {
        if (_closed)
        {
            return new ValueTask<bool>(false);
        }

        if (HasWork())
        {
            return new ValueTask<bool>(true);
        }

        _core.Reset();
        Interlocked.Exchange(ref _state, Waiting);
        if (_closed || HasWork())
        {
            if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                return new ValueTask<bool>(!_closed);
            }
        }

        return new ValueTask<bool>(this, _core.Version);
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
        }

        Interlocked.Increment(ref _frames);
        return true;
    }

    /// <summary>Wakes a pending wait without a frame (for control work such as a pong); see <see cref="ConsumeWake"/>.</summary>
    public void Wake()
    {
        _woken = true;
        Signal();
    }

    /// <summary>True once after each <see cref="Wake"/>.</summary>
    public bool ConsumeWake()
    {
        if (!_woken)
        {
            return false;
        }

        _woken = false;
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
    internal void Offer(Frame frame)
    {
        var signal = false;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            if (_waitingForKeyFrame)
            {
                if (!frame.IsKeyFrame)
                {
                    _skipped++;
                    return;
                }

                _waitingForKeyFrame = false;
            }

            if (_count == _queue.Length)
            {
                // Fallen behind: what is queued is now too old to be worth showing, and anything but a key frame
                // would be undecodable after a gap. Drop it all and resume at the next key frame.
                _skipped += _count;
                _skipEvents++;
                DropQueued();
                if (!frame.IsKeyFrame)
                {
                    _skipped++;
                    _waitingForKeyFrame = true;
                    return;
                }
            }

            frame.AddReference();
            _queue[(_head + _count) % _queue.Length] = frame;
            _count++;
            signal = true;
        }

        if (signal)
        {
            Signal();
        }
    }

    /// <summary>Queues the cached group of pictures for a new reader (called before it is attached).</summary>
    internal void Prime(IReadOnlyList<Frame> groupOfPictures)
    {
        foreach (var frame in groupOfPictures)
        {
            Offer(frame);
        }
    }

    internal void MarkClosed()
    {
        lock (_lock)
        {
            _closed = true;
            DropQueued();
        }

        Signal();
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
    }

    private bool HasWork() => _woken || Volatile.Read(ref _count) > 0;

    private void Signal()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _core.SetResult(!_closed);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token) && !_closed;

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
