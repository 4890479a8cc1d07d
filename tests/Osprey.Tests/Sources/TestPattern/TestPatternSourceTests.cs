using Osprey.Feeds;
using Osprey.Sources.TestPattern;

namespace Osprey.Tests.Sources.TestPattern;

public class TestPatternSourceTests
{
    [Fact]
    public async Task AfterFallingBehind_TheFramesThatWereMissedAreDropped_NotSentInABurst()
    {
        var time = new ManualTimeProvider();
        using var feed = new Feed("tp", time: time);
        var source = new TestPatternSource(new TestPatternOptions { Width = 16, Height = 8, Fps = 10 }, time);
        using var cts = new CancellationTokenSource();
        var run = source.RunAsync(feed, cts.Token);

        time.Advance(TimeSpan.FromMilliseconds(100));
        await WaitForSequenceAsync(feed, 1);

        // A second with no tick (a starved CPU): the next tick is ten frames late.
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitForSequenceAsync(feed, 2);

        // Over the next frame period a catching-up source would send the nine missed frames a millisecond apart;
        // a camera, and this source, sends the one frame that is due.
        for (var step = 0; step < 10; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(10));
            await Task.Delay(20);
        }

        Assert.Equal(3, feed.LatestSequence);

        // And the rate carries on at 10 fps from there.
        time.Advance(TimeSpan.FromMilliseconds(100));
        await WaitForSequenceAsync(feed, 4);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    private static async Task WaitForSequenceAsync(Feed feed, long sequence)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (feed.LatestSequence < sequence && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        Assert.Equal(sequence, feed.LatestSequence);
    }
}
