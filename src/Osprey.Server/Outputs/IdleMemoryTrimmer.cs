using Osprey.Feeds;

namespace Osprey.Server.Outputs;

/// <summary>
/// Gives memory back once a load is over: when the number of viewers has fallen to half its peak or less (by at
/// least <see cref="MinimumDrop"/>) and stayed there for a whole period, every feed's frame pool keeps only
/// <see cref="RetainedWhenIdle"/> free frames and one full, compacting, aggressive GC decommits what the
/// viewers' connections and frames left behind.
/// </summary>
/// <remarks>
/// <para>Why: nothing is allocated per frame, so once the viewers are gone nothing makes the GC run again, and the
/// frames a saturated fan-out had in flight (each stalled send holds one), the connections' objects and the GC's
/// grown budgets stayed resident (measured: RSS 52 MB before a 200-viewer load, 68 MB after it, for as long as the
/// server ran; see docs/benchmarks.md).</para>
/// <para>Cost: one blocking full GC per drop, a few milliseconds for Osprey's small heap, at a moment when viewers
/// just left; a steady load never triggers it.</para>
/// </remarks>
internal sealed class IdleMemoryTrimmer : IDisposable
{
    /// <summary>How often the viewer count is looked at.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>The least fall in viewers (from the peak since the last trim) worth a trim.</summary>
    public const int MinimumDrop = 10;

    /// <summary>The free frames each pool keeps after a trim.</summary>
    public const int RetainedWhenIdle = 2;

    private readonly Func<int> _viewers;
    private readonly Func<IEnumerable<Feed>> _feeds;
    private readonly Timer? _timer;
    private readonly Lock _lock = new();
    private int _peak;
    private int _last = -1;
    private long _trims;

    /// <summary>Watches <paramref name="viewers"/> every <paramref name="period"/> (none: only <see cref="Trim"/> by hand).</summary>
    public IdleMemoryTrimmer(Func<int> viewers, Func<IEnumerable<Feed>> feeds, TimeSpan? period = null)
    {
        _viewers = viewers;
        _feeds = feeds;
        var every = period ?? Period;
        if (every > TimeSpan.Zero)
        {
            _timer = new Timer(static state => ((IdleMemoryTrimmer)state!).Check(), this, every, every);
        }
    }

    /// <summary>Trims done so far.</summary>
    public long Trims => Interlocked.Read(ref _trims);

    /// <summary>Looks at the viewer count once: trims when it fell far enough and did not move for a period.</summary>
    /// <returns>True when it trimmed.</returns>
    public bool Check()
    {
        lock (_lock)
        {
            var now = _viewers();
            var settled = now == _last;
            _last = now;
            _peak = Math.Max(_peak, now);
            if (!settled || _peak - now < MinimumDrop || now > _peak / 2)
            {
                return false;
            }

            _peak = now;
        }

        Trim();
        return true;
    }

    /// <summary>Trims the frame pools and runs the aggressive GC.</summary>
    public void Trim()
    {
        foreach (var feed in _feeds())
        {
            feed.Pool.TrimExcess(RetainedWhenIdle);
        }

        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _trims);
    }

    /// <summary>Stops watching.</summary>
    public void Dispose() => _timer?.Dispose();
}
