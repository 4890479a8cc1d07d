using System.Runtime.InteropServices;
using Osprey.Runtime;

namespace Osprey.Server.Hosting;

/// <summary>
/// Gives memory back after a load ends. Frames are pinned arrays on the GC's pinned heap: when a burst of viewers,
/// publishers or destinations leaves, their frames become garbage that only a full collection frees, and a server
/// that then allocates little runs none, so its RSS would stay at the burst's peak. Every
/// <see cref="Interval"/> this looks at what was allocated since the last look: while the process allocates (a load
/// runs, and the GC collects on its own) it does nothing; once it is quiet and its working set is more than
/// <see cref="Slack"/> above where the last trim left it, it runs one aggressive collection, which also decommits
/// the freed memory and trims the shared array pool.
/// </summary>
/// <remarks>Thread safety: the timer's callbacks do not overlap (each re-arms the timer when done).</remarks>
internal sealed partial class MemoryTrimmer : IDisposable
{
    /// <summary>How often allocation and the working set are looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>Allocation per <see cref="Interval"/> below which the process counts as quiet.</summary>
    public const long QuietBytes = 16L * 1024 * 1024;

    /// <summary>How far the working set may rise above its level after the last trim before a quiet process is trimmed.</summary>
    public const long Slack = 8L * 1024 * 1024;

    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private long _lastAllocated;
    private long _afterLastTrim;

    public MemoryTrimmer(ILogger logger, TimeProvider? time = null)
    {
        _logger = logger;
        _lastAllocated = GC.GetTotalAllocatedBytes(precise: false);
        _afterLastTrim = Environment.WorkingSet;
        _timer = (time ?? TimeProvider.System).CreateTimer(_ => Tick(), null, Interval, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Collections this has run.</summary>
    public int Trims { get; private set; }

    private void Tick()
    {
        try
        {
            var allocated = GC.GetTotalAllocatedBytes(precise: false);
            var quiet = allocated - _lastAllocated < QuietBytes;
            _lastAllocated = allocated;
            var before = Environment.WorkingSet;
            if (quiet && before > _afterLastTrim + Slack)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                TrimNativeHeap();
                _afterLastTrim = Environment.WorkingSet;
                _lastAllocated = GC.GetTotalAllocatedBytes(precise: false);
                Trims++;
                Log.Trimmed(_logger, before / (1024 * 1024), _afterLastTrim / (1024 * 1024));
            }
            else if (before < _afterLastTrim)
            {
                _afterLastTrim = before;
            }
        }
        finally
        {
            _timer.Change(Interval, Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _timer.Dispose();

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
        [LoggerMessage(LogEvents.ServerMemoryTrimmed, LogLevel.Debug, "Memory trimmed after a load: working set {Before} MiB -> {After} MiB")]
        public static partial void Trimmed(ILogger logger, long before, long after);
    }
}
