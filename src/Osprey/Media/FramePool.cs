namespace Osprey.Media;

/// <summary>
/// A bounded pool of <see cref="Frame"/>s. Steady-state capture rents and returns without allocating.
/// </summary>
/// <remarks>
/// A frame held by a stalled reader simply stays out of the pool; the producer rents (or allocates) another,
/// so publishing never waits for readers. Frames returned while the pool already keeps
/// <see cref="MaxRetained"/> free ones are left to the GC, so a burst of slow readers does not pin memory
/// for ever. Thread-safe.
/// </remarks>
public sealed class FramePool
{
    private readonly Lock _lock = new();
    private readonly Frame?[] _free;
    private int _freeCount;
    private long _allocated;
    private long _outstanding;

    /// <summary>Creates a pool keeping at most <paramref name="maxRetained"/> free frames.</summary>
    public FramePool(int maxRetained = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRetained, 1);
        _free = new Frame?[maxRetained];
    }

    /// <summary>The most free frames kept for reuse.</summary>
    public int MaxRetained => _free.Length;

    /// <summary>Frames ever allocated by this pool.</summary>
    public long Allocated => Interlocked.Read(ref _allocated);

    /// <summary>Frames rented and not yet returned (held by a producer, a feed or readers).</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Free frames kept now.</summary>
    public int FreeCount
    {
        get
        {
            lock (_lock)
            {
                return _freeCount;
            }
        }
    }

    /// <summary>
    /// Rents a frame whose buffer holds at least <paramref name="minimumCapacity"/> bytes; the caller owns the
    /// single reference.
    /// </summary>
    public Frame Rent(int minimumCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minimumCapacity);
        Frame? frame = null;
        lock (_lock)
        {
            // Newest first: its memory is the most likely to still be in cache.
            for (var i = _freeCount - 1; i >= 0; i--)
            {
                var candidate = _free[i]!;
                if (candidate.Capacity >= minimumCapacity)
                {
                    frame = candidate;
                    _free[i] = _free[_freeCount - 1];
                    _free[--_freeCount] = null;
                    break;
                }
            }
        }

        if (frame is null)
        {
            frame = new Frame(this, minimumCapacity);
            Interlocked.Increment(ref _allocated);
        }

        Interlocked.Increment(ref _outstanding);
        frame.ResetForRent();
        return frame;
    }

    /// <summary>
    /// Lets go of free frames beyond <paramref name="keep"/> (the smallest first), leaving them to the GC: after a
    /// load, when the frames a busy fan-out had in flight need not stay pinned.
    /// </summary>
    /// <returns>How many free frames were let go.</returns>
    public int TrimExcess(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        lock (_lock)
        {
            var dropped = 0;
            while (_freeCount > keep)
            {
                var smallest = 0;
                for (var i = 1; i < _freeCount; i++)
                {
                    if (_free[i]!.Capacity < _free[smallest]!.Capacity)
                    {
                        smallest = i;
                    }
                }

                _free[smallest] = _free[_freeCount - 1];
                _free[--_freeCount] = null;
                dropped++;
            }

            return dropped;
        }
    }

    internal void Return(Frame frame)
    {
        Interlocked.Decrement(ref _outstanding);
        lock (_lock)
        {
            if (_freeCount < _free.Length)
            {
                _free[_freeCount++] = frame;
                return;
            }

            // Full: replace the smallest free frame if this one is larger, so the pool drifts to the sizes in use.
            var smallest = 0;
            for (var i = 1; i < _freeCount; i++)
            {
                if (_free[i]!.Capacity < _free[smallest]!.Capacity)
                {
                    smallest = i;
                }
            }

            if (_free[smallest]!.Capacity < frame.Capacity)
            {
                _free[smallest] = frame;
            }
        }
    }
}
