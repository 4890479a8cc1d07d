using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Server.Hosting;

namespace Osprey.Tests.Server.Hosting;

/// <summary>Memory back after a load: once the process is quiet with a grown working set, the pools let go of their spare frames and one collection runs; never while it allocates.</summary>
public sealed class MemoryTrimmerTests
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public void Trimmer_TrimsThePoolsOnceTheProcessIsQuietAndHasGrown_NeverWhileItAllocates_AndOnceForOneRise()
    {
        using var feed = new Feed("trim");
        FillPool(feed.Pool, 8);
        long allocated = 0;
        long workingSet = 60 * MiB;
        using var trimmer = new MemoryTrimmer(NullLogger.Instance, () => [feed], () => 0, () => allocated, () => workingSet, new StoppedClock());

        workingSet = 90 * MiB; // a load: it allocates, the GC runs on its own
        allocated += MemoryTrimmer.QuietBytes * 4;
        Assert.False(trimmer.Check());
        Assert.Equal(8, feed.Pool.FreeCount);

        workingSet = 61 * MiB; // quiet, but within the slack of the last level: nothing to give back
        Assert.False(trimmer.Check());

        workingSet = 90 * MiB; // quiet and grown: trim
        allocated += MemoryTrimmer.QuietBytes / 2;
        Assert.True(trimmer.Check());
        Assert.Equal(1, trimmer.Trims);
        Assert.Equal(MemoryTrimmer.RetainedFreeFrames, feed.Pool.FreeCount);

        Assert.False(trimmer.Check()); // the level is now where the trim left it: no second trim for the same rise
        Assert.Equal(1, trimmer.Trims);
    }

    [Fact]
    public void Trimmer_TrimsOnceTheViewersFellToHalfTheirPeakAndStayedThere_EvenWhileTheProcessAllocates()
    {
        using var feed = new Feed("trim");
        FillPool(feed.Pool, 8);
        var viewers = 0;
        long allocated = 0;
        using var trimmer = new MemoryTrimmer(NullLogger.Instance, () => [feed], () => viewers, () => allocated, () => 60 * MiB, new StoppedClock());

        foreach (var now in new[] { 0, 100, 100, 100, 40 })
        {
            viewers = now;
            allocated += MemoryTrimmer.QuietBytes * 2; // the viewers that stay keep the process busy
            Assert.False(trimmer.Check()); // rising, steady, then falling: the count just moved
        }

        Assert.Equal(8, feed.Pool.FreeCount);
        allocated += MemoryTrimmer.QuietBytes * 2;
        Assert.True(trimmer.Check()); // 40 for a whole interval, at most half of 100 and 60 fewer: trim
        Assert.Equal(1, trimmer.Trims);
        Assert.Equal(MemoryTrimmer.RetainedFreeFrames, feed.Pool.FreeCount);
        allocated += MemoryTrimmer.QuietBytes * 2;
        Assert.False(trimmer.Check()); // the peak is now 40: no second trim for the same drop

        viewers = 35; // a small fall is not worth a full GC
        allocated += MemoryTrimmer.QuietBytes * 2;
        Assert.False(trimmer.Check());
        Assert.False(trimmer.Check());
        Assert.Equal(1, trimmer.Trims);
    }

    [Fact]
    public void TrimExcess_KeepsTheLargestFreeFrames_AndLeavesRentedOnesAlone()
    {
        var pool = new FramePool();
        var rented = pool.Rent(100);
        var sizes = new[] { 1000, 4000, 2000, 3000 };
        var frames = sizes.Select(pool.Rent).ToList();
        frames.ForEach(frame => frame.Release());

        Assert.Equal(2, pool.TrimExcess(2));
        Assert.Equal(2, pool.FreeCount);
        var first = pool.Rent(3000);
        var second = pool.Rent(3000);
        Assert.Equal(5, pool.Allocated); // both came from the pool: the 4000 and the 3000 were kept
        Assert.Equal(3, pool.Outstanding);
        first.Release();
        second.Release();
        rented.Release();
        Assert.Equal(0, pool.TrimExcess(8));
    }

    private static void FillPool(FramePool pool, int count)
    {
        var frames = Enumerable.Range(0, count).Select(_ => pool.Rent(4096)).ToList();
        frames.ForEach(frame => frame.Release());
    }

    /// <summary>A clock whose timers never fire: the test makes each look itself.</summary>
    private sealed class StoppedClock : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Stopped();

        private sealed class Stopped : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
