using System.Threading.Tasks.Sources;

namespace Osprey.Feeds;

/// <summary>
/// The waiting half of a feed reader, shared by both read modes: a reusable <see cref="IValueTaskSource{TResult}"/>
/// that completes when the feed signals, when <see cref="Wake"/> is called or when the reader closes. Allocates
/// nothing per wait.
/// </summary>
/// <remarks>
/// The race between a waiter and a signal is settled with a full fence on each side: the waiter publishes
/// <c>Waiting</c> before it looks for work once more, and the feed publishes its work before it looks for a waiter,
/// so one of them always sees the other. Continuations run on the thread pool, or for readers that asked for it
/// (<see cref="SignalOnFanOutThread"/>) on a fan-out thread: a publisher (a capture loop) never runs viewers' sends.
/// </remarks>
public abstract class SignalledReader : IValueTaskSource<bool>
{
    private const int Idle = 0;
    private const int Waiting = 1;

    private ManualResetValueTaskSourceCore<bool> _core;
    private int _state;
    private volatile bool _closed;
    private volatile bool _woken;
    private volatile int _lane = -1;

    /// <summary>Initialises the signal.</summary>
    protected SignalledReader() => _core.RunContinuationsAsynchronously = true;

    /// <summary>True once closed; a wait then returns false.</summary>
    public bool IsClosed => _closed;

    /// <summary>True when there is something to read (a frame); the base adds wakes and closing.</summary>
    protected abstract bool HasFrames();

    /// <summary>True when the reader can never read again (its feed ended), besides <see cref="IsClosed"/>.</summary>
    protected virtual bool IsEnded => false;

    /// <summary>Waits until there may be something to do: a frame or a <see cref="Wake"/>; false once closed.</summary>
    public ValueTask<bool> WaitAsync()
    {
        if (_closed || IsEnded)
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

            // A signal won the race and completed the core already.
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>
    /// Has the feed wake this reader for its frames from one of the fan-out threads (<see cref="FanOutLanes"/>),
    /// running the consumer's continuation there at once, with the other readers of the frame, instead of on
    /// the thread pool. Only for consumers whose per-frame work is a non-blocking send (a viewer writing straight
    /// to its socket): anything that may block or compute would delay the lane's other readers. Wakes and closes
    /// still complete on the thread pool. Idempotent.
    /// </summary>
    public void SignalOnFanOutThread()
    {
        if (_lane < 0)
        {
            _lane = FanOutLanes.NextLane();
        }
    }

    /// <summary>The fan-out lane that wakes this reader for frames, or -1 (the thread pool).</summary>
    internal int Lane => _lane;

    /// <summary>Wakes a pending wait without a frame, so that its consumer can do other work (a pong, say).</summary>
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

    /// <summary>Marks the reader closed and wakes a pending wait with false.</summary>
    protected void MarkClosedAndSignal()
    {
        _closed = true;
        Signal();
    }

    /// <summary>Completes a pending wait, if there is one.</summary>
    /// <param name="inline">True to run the waiter's continuation on this thread (a fan-out lane); false to queue it to the thread pool.</param>
    internal void Signal(bool inline = false)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            // Only the signaller that won the exchange completes the core, so setting the mode here cannot race.
            _core.RunContinuationsAsynchronously = !inline;
            _core.SetResult(!_closed);
        }
    }

    private bool HasWork() => _woken || HasFrames();

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token) && !_closed;

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
