using Osprey.Media;

namespace Osprey.Tests.Media;

public class FramePoolTests
{
    [Fact]
    public void ReturnedFrame_IsReusedByTheNextRent()
    {
        var pool = new FramePool();
        var first = pool.Rent(1000);
        first.Release();
        var second = pool.Rent(1000);
        Assert.Same(first, second);
        Assert.Equal(1, pool.Allocated);
        Assert.Equal(1, second.References);
        second.Release();
    }

    [Fact]
    public void RentSkipsFreeFramesThatAreTooSmall()
    {
        var pool = new FramePool();
        var small = pool.Rent(100);
        small.Release();
        var large = pool.Rent(10_000);
        Assert.NotSame(small, large);
        Assert.True(large.Capacity >= 10_000);
        large.Release();
    }

    [Fact]
    public void Pool_KeepsAtMostMaxRetainedFreeFrames()
    {
        var pool = new FramePool(maxRetained: 2);
        var frames = Enumerable.Range(0, 5).Select(_ => pool.Rent(64)).ToList();
        frames.ForEach(f => f.Release());
        Assert.Equal(2, pool.FreeCount);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void ReleasingMoreThanReferenced_Throws()
    {
        var pool = new FramePool();
        var frame = pool.Rent(64);
        frame.Release();
        Assert.Throws<InvalidOperationException>(frame.Release);
    }

    [Fact]
    public void WritableSpan_RejectsLengthsOutsideTheBuffer()
    {
        var pool = new FramePool();
        var frame = pool.Rent(64);
        Assert.Throws<ArgumentOutOfRangeException>(() => frame.GetWritableSpan(frame.Capacity + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => frame.GetWritableSpan(-1));
        frame.Release();
    }
}
