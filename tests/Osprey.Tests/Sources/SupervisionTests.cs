using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;
using Osprey.Sources;

namespace Osprey.Tests.Sources;

public class SupervisionTests
{
    [Fact]
    public void Backoff_Goes1_2_4_8_Then10SecondsForEver_AndResets()
    {
        var backoff = new Backoff();
        var delays = Enumerable.Range(0, 7).Select(_ => backoff.Next().TotalSeconds).ToArray();
        Assert.Equal([1, 2, 4, 8, 10, 10, 10], delays);
        backoff.Reset();
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Next());
    }

    [Fact]
    public async Task FailingSource_IsRestartedWithBackoff_WhileItsFeedAndReadersStay()
    {
        var time = new ManualTimeProvider();
        var source = new ScriptedSource(failRuns: 3);
        using var feed = new Feed("supervised", time: time);
        using var reader = feed.OpenReader();
        // No frame timeout: its timer would be one more pending delay on the manual clock.
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance, time, frameTimeout: TimeSpan.Zero);
        supervisor.Start();

        // Each failed run arms the next restart delay: 1, 2, then 4 s.
        foreach (var expected in new[] { 1, 2, 4 })
        {
            var delay = await WaitForPendingDelayAsync(time);
            Assert.Equal(TimeSpan.FromSeconds(expected), delay);
            Assert.Equal(FeedState.Restarting, feed.State);
            Assert.Contains("scripted failure", feed.StateDetail);
            time.Advance(delay);
        }

        // The fourth run publishes: the reader, attached all along, gets the frame.
        Assert.True(await reader.WaitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(reader.TryTakeLatest(out Frame frame));
        frame.Release();
        Assert.Equal(FeedState.Running, feed.State);
        Assert.Equal(3, supervisor.Restarts);
        Assert.False(reader.IsClosed);
    }

    [Fact]
    public async Task OperatorRestart_StartsTheSourceAgainAtOnce()
    {
        var source = new ScriptedSource(failRuns: 0);
        using var feed = new Feed("restart");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        supervisor.Start();
        await WaitUntilAsync(() => source.Runs == 1);
        supervisor.Restart();
        await WaitUntilAsync(() => source.Runs == 2);
        Assert.Equal(1, supervisor.Restarts);
    }

    [Fact]
    public void SourceFactory_MakesATestPatternFromItsUri_AndExplainsBadOnes()
    {
        var source = SourceFactory.Create("testpattern:?width=320&height=240&fps=15");
        Assert.Equal(new VideoInfo(MediaFormat.Yuyv, 320, 240, 15), source.ExpectedInfo);

        Assert.Contains("unknown scheme", Assert.Throws<FormatException>(() => SourceFactory.Create("rtsp://camera/stream")).Message);
        Assert.Contains("not a whole number", Assert.Throws<FormatException>(() => SourceFactory.Create("testpattern:?width=wide")).Message);
        Assert.Contains("must be even", Assert.Throws<ArgumentException>(() => SourceFactory.Create("testpattern:?width=641")).Message);
        Assert.Contains("NAME=URI", Assert.Throws<FormatException>(() => SourceFactory.ParseNamedSource("testpattern:")).Message);
        Assert.Equal(("cam/front", "testpattern:"), SourceFactory.ParseNamedSource("cam/front=testpattern:"));
    }

    private static async Task<TimeSpan> WaitForPendingDelayAsync(ManualTimeProvider time)
    {
        for (var i = 0; i < 500; i++)
        {
            var pending = time.PendingDelays();
            if (pending.Count > 0)
            {
                return pending[0];
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("the supervisor never armed a restart delay");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private sealed class ScriptedSource(int failRuns) : IFrameSource
    {
        private int _runs;

        public int Runs => Volatile.Read(ref _runs);

        public string Uri => "scripted:";

        public VideoInfo ExpectedInfo => new(MediaFormat.Yuyv, 16, 8, 30);

        public async Task RunAsync(Feed feed, CancellationToken cancellationToken)
        {
            var run = Interlocked.Increment(ref _runs);
            if (run <= failRuns)
            {
                throw new InvalidOperationException("scripted failure");
            }

            var frame = feed.Pool.Rent(256);
            frame.GetWritableSpan(256).Fill((byte)run);
            feed.Publish(frame);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
