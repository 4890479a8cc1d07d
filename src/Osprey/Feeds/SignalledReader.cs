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
/// so one of them always sees the other. Continuations run on the thread pool: a publisher (a capture loop) never
/// runs viewers' sends.
/// </remarks>
public abstract class SignalledReader : IValueTaskSource<bool>
{
    private const int Idle = 0;
    private const int Waiting = 1;

    private ManualResetValueTaskSourceCore<bool> _core;
    private int _state;
    private volatile bool _closed;
    private volatile bool _woken;

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
    internal void Signal()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _core.SetResult(!_closed);
        }
    }

    private bool HasWork() => _woken || HasFrames();

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token) && !_closed;

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
