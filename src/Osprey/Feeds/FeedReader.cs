using System.Threading.Tasks.Sources;
using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>
/// One consumer of a <see cref="Feed"/> in the <em>latest</em> read mode: it gets the newest frame it has not
/// seen, and the frames it was too slow for are counted as dropped, here and on the feed.
/// </summary>
/// <remarks>
/// <para>Waiting is a signal, never a timer: <see cref="WaitAsync"/> completes when the feed publishes, when
/// <see cref="Wake"/> is called (an output that has control work to do, like a pong) or when the reader or feed
/// closes. It allocates nothing: the reader is its own reusable <see cref="IValueTaskSource{TResult}"/>.</para>
/// <para>Thread safety: one consumer calls <see cref="WaitAsync"/> and <see cref="TryTakeLatest"/>; any thread
/// may call <see cref="Wake"/>, <see cref="Close"/> and <see cref="Dispose"/>.</para>
/// </remarks>
public sealed class FeedReader : IValueTaskSource<bool>, IFrameReader
{
    private const int Idle = 0;
    private const int Waiting = 1;

    private readonly Feed _feed;
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _state;
    private long _lastSequence;
    private long _drops;
    private long _frames;
    private volatile bool _closed;
    private volatile bool _woken;

    internal FeedReader(Feed feed, long startAfterSequence)
    {
        _feed = feed;
        _lastSequence = startAfterSequence;
        // Continuations run on the thread pool: the publisher (a capture loop) must never run viewers' sends.
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>The feed this reader reads.</summary>
    public Feed Feed => _feed;

    /// <summary>Frames this reader skipped because a newer one was already latched.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Frames this reader took.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <inheritdoc />
    long IFrameReader.Skipped => Drops;

    /// <inheritdoc />
    bool IFrameReader.TryTake(out Frame frame) => TryTakeLatest(out frame);

    /// <summary>The sequence number of the last frame taken.</summary>
    public long LastSequence => _lastSequence;

    /// <summary>True once closed; <see cref="WaitAsync"/> then returns false.</summary>
    public bool IsClosed => _closed;

    /// <summary>
    /// Waits until there may be something to do: a newer frame, or a <see cref="Wake"/>. Returns false when the
    /// reader or its feed is closed.
    /// </summary>
    public ValueTask<bool> WaitAsync()
    {
        if (_closed || _feed.IsCompleted)
        {
            return new ValueTask<bool>(false);
        }

        if (HasWork())
        {
            return new ValueTask<bool>(true);
        }

        _core.Reset();
        // Full fence: either the publisher sees Waiting, or we see its new sequence below.
        Interlocked.Exchange(ref _state, Waiting);
        if (_closed || HasWork())
        {
            if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                return new ValueTask<bool>(!_closed);
            }

            // A signal won the race and completed the core already.
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>
    /// Takes the newest frame this reader has not seen, with a reference the caller must release (dispose the
    /// lease). False when there is none newer.
    /// </summary>
    public bool TryTakeLatest(out Frame frame)
    {
        if (!_feed.TryTakeNewer(_lastSequence, out frame))
        {
            return false;
        }

        var skipped = _lastSequence == 0 ? 0 : frame.Sequence - _lastSequence - 1;
        if (skipped > 0)
        {
            Interlocked.Add(ref _drops, skipped);
            _feed.CountDrops(skipped);
        }

        _lastSequence = frame.Sequence;
        Interlocked.Increment(ref _frames);
        return true;
    }

    /// <summary>
    /// Wakes a pending <see cref="WaitAsync"/> without a frame, so that its consumer can do other work; returns
    /// after setting a flag the consumer reads with <see cref="ConsumeWake"/>.
    /// </summary>
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

    /// <summary>Stops the reader: a pending wait completes with false. Idempotent.</summary>
    public void Close()
    {
        MarkClosed();
        _feed.Detach(this);
    }

    /// <inheritdoc />
    public void Dispose() => Close();

    internal void MarkClosed()
    {
        _closed = true;
        Signal();
    }

    internal void Signal()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _core.SetResult(!_closed);
        }
    }

    private bool HasWork() => _woken || _feed.LatestSequence > _lastSequence;

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token) && !_closed;

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
