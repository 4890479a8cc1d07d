using Osprey.Feeds;
using Osprey.Media;
using Osprey.Server.Outputs;

namespace Osprey.Tests.Server.Outputs;

/// <summary>Memory back after a load: when viewers fall away and stay away the pools let go of their spare frames, never during a steady load.</summary>
public sealed class IdleMemoryTrimmerTests
{
    [Fact]
    public void Trimmer_TrimsOnceTheViewersFellToHalfTheirPeakAndStayedThere_NeverDuringASteadyLoad()
    {
        using var feed = new Feed("trim");
        FillPool(feed.Pool, 8);
        var viewers = 0;
        using var trimmer = new IdleMemoryTrimmer(() => viewers, () => [feed], period: TimeSpan.Zero);

        foreach (var (now, trims) in new[] { (0, false), (100, false), (100, false), (100, false), (40, false) })
        {
            viewers = now;
            Assert.Equal(trims, trimmer.Check()); // rising, steady, then falling: the count just moved
        }

        Assert.Equal(8, feed.Pool.FreeCount);
        Assert.True(trimmer.Check()); // 40 for a whole period, at most half of 100 and 60 fewer: trim
        Assert.Equal(1, trimmer.Trims);
        Assert.Equal(IdleMemoryTrimmer.RetainedWhenIdle, feed.Pool.FreeCount);
        Assert.False(trimmer.Check()); // the peak is now 40: no second trim for the same drop

        viewers = 35; // a small fall is not worth a full GC
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
}
