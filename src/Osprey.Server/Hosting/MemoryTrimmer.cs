using System.Runtime.InteropServices;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Server.Hosting;

/// <summary>
/// Gives memory back after a load ends. Frames are pinned arrays on the GC's pinned heap: when a burst of viewers,
/// publishers or destinations leaves, their frames become garbage that only a full collection frees, and a server
/// that then allocates little runs none, so its RSS would stay at the burst's peak. Every
/// <see cref="Interval"/> this looks at what was allocated since the last look and at the number of viewers. It trims
/// once the process is quiet (it allocated under <see cref="QuietBytes"/>) with a working set more than
/// <see cref="Slack"/> above where the last trim left it, or once the viewers fell to half their peak since the last
/// trim or fewer, by at least <see cref="MinimumViewerDrop"/>, and did not move for a whole interval (the clients that
/// stay may keep the process from looking quiet). A trim: every feed's frame pool keeps only
/// <see cref="RetainedFreeFrames"/> free frames (a saturated fan-out had one in flight per stalled send) and one
/// aggressive collection runs, which also decommits the freed memory and trims the shared array pool; then glibc's
/// free pages go back (<c>malloc_trim</c>).
/// </summary>
/// <remarks>
/// <para>Measured: RSS 52 MB before a 200-viewer load and 68 MB after it for as long as the server ran, without a
/// trimmer (docs/benchmarks.md). The cost is one blocking full GC, a few milliseconds for Osprey's small heap, at a
/// moment when nothing is happening; a steady load allocates nothing per frame but never looks quiet for long
/// with a grown working set, and a load that allocates is never trimmed.</para>
/// <para>Thread safety: the timer's callbacks do not overlap (each re-arms the timer when done).</para>
/// </remarks>
internal sealed partial class MemoryTrimmer : IDisposable
{
    /// <summary>How often allocation and the working set are looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>Allocation per <see cref="Interval"/> below which the process counts as quiet.</summary>
    public const long QuietBytes = 16L * 1024 * 1024;

    /// <summary>How far the working set may rise above its level after the last trim before a quiet process is trimmed.</summary>
    public const long Slack = 8L * 1024 * 1024;

    /// <summary>The free frames each feed's pool keeps after a trim: enough for the next frames without a new allocation.</summary>
    public const int RetainedFreeFrames = 2;

    /// <summary>The least fall in viewers (from the peak since the last trim) worth a trim on its own.</summary>
    public const int MinimumViewerDrop = 10;

    private readonly ILogger _logger;
    private readonly Func<IEnumerable<Feed>> _feeds;
    private readonly Func<long> _allocatedBytes;
    private readonly Func<long> _workingSet;
    private readonly Func<int> _viewers;
    private int _peakViewers;
    private int _lastViewers = -1;
    private readonly ITimer _timer;
    private long _lastAllocated;
    private long _afterLastTrim;

    /// <summary>
    /// Watches the process and <paramref name="viewers"/> (the number connected now) every <see cref="Interval"/> of
    /// <paramref name="time"/>, trimming the pools of <paramref name="feeds"/>.
    /// </summary>
    public MemoryTrimmer(ILogger logger, Func<IEnumerable<Feed>> feeds, Func<int> viewers, TimeProvider? time = null)
        : this(logger, feeds, viewers, static () => GC.GetTotalAllocatedBytes(precise: false), static () => Environment.WorkingSet, time)
    {
    }

    /// <summary>With the process's measures given (tests: other tests in the process allocate too).</summary>
    internal MemoryTrimmer(ILogger logger, Func<IEnumerable<Feed>> feeds, Func<int> viewers, Func<long> allocatedBytes, Func<long> workingSet, TimeProvider? time = null)
    {
        _logger = logger;
        _feeds = feeds;
        _viewers = viewers;
        _allocatedBytes = allocatedBytes;
        _workingSet = workingSet;
        _lastAllocated = allocatedBytes();
        _afterLastTrim = workingSet();
        _timer = (time ?? TimeProvider.System).CreateTimer(_ => Tick(), null, Interval, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Collections this has run.</summary>
    public int Trims { get; private set; }

    private void Tick()
    {
        try
        {
            Check();
        }
        finally
        {
            _timer.Change(Interval, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>One look (what the timer does every <see cref="Interval"/>): trims when the process is quiet and has grown.</summary>
    /// <returns>True when it trimmed.</returns>
    internal bool Check()
    {
        var allocated = _allocatedBytes();
        var quiet = allocated - _lastAllocated < QuietBytes;
        _lastAllocated = allocated;
        var before = _workingSet();
        var viewersLeft = ViewersLeft();
        if ((quiet && before > _afterLastTrim + Slack) || viewersLeft)
        {
            var frames = 0;
            foreach (var feed in _feeds())
            {
                frames += feed.Pool.TrimExcess(RetainedFreeFrames);
            }

            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            TrimNativeHeap();
            _afterLastTrim = _workingSet();
            _lastAllocated = _allocatedBytes();
            Trims++;
            Log.Trimmed(_logger, before / (1024 * 1024), _afterLastTrim / (1024 * 1024), frames);
            return true;
        }

        if (before < _afterLastTrim)
        {
            _afterLastTrim = before;
        }

        return false;
    }

    /// <summary>Stops watching.</summary>
    public void Dispose() => _timer.Dispose();

    /// <summary>True when the viewers fell far enough from their peak and stayed there for an interval; a trim then starts a new peak.</summary>
    private bool ViewersLeft()
    {
        var now = _viewers();
        var settled = now == _lastViewers;
        _lastViewers = now;
        _peakViewers = Math.Max(_peakViewers, now);
        if (!settled || _peakViewers - now < MinimumViewerDrop || now > _peakViewers / 2)
        {
            return false;
        }

        _peakViewers = now;
        return true;
    }

    private static bool s_noMallocTrim;

    /// <summary>
    /// glibc keeps what native code freed (TLS, sockets, the JPEG codec, per-thread arenas of threads that have
    /// ended) for reuse; <c>malloc_trim(0)</c> gives its free pages back. Other C libraries (musl) have none.
    /// </summary>
    private static void TrimNativeHeap()
    {
        if (s_noMallocTrim || !OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (EntryPointNotFoundException)
        {
            s_noMallocTrim = true;
        }
        catch (DllNotFoundException)
        {
            s_noMallocTrim = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ServerMemoryTrimmed, LogLevel.Debug, "Memory trimmed after a load: working set {Before} MiB -> {After} MiB, {Frames} spare frames freed")]
        public static partial void Trimmed(ILogger logger, long before, long after, int frames);
    }
}
