using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Transforms;

namespace Osprey.Tests.Transforms;

public class LazyTransformTests
{
    [Fact]
    public async Task NothingRuns_UntilTheOutputHasAReader_AndItStopsAfterTheLast()
    {
        using var source = new Feed("src");
        await using var transform = new CopyTransform(source, workers: 1, delay: TimeSpan.Zero);
        Publish(source, 10);
        await Task.Delay(100);
        Assert.False(transform.IsRunning);
        Assert.Equal(0, transform.ProcessedFrames);

        var reader = transform.Output.OpenReader();
        Assert.True(transform.IsRunning);
        Assert.True(await reader.WaitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(reader.TryTakeLatest(out Frame frame));
        Assert.Equal(10, frame.Span[0]);
        frame.Release();

        var running = transform.ReadCounters();
        Assert.Equal(("copy", "running"), (running.Part, running.State));
        Assert.Equal(1, running.Counters["viewers"]);
        Assert.Equal(transform.ProcessedFrames, running.Counters["processedFrames"]);
        Assert.Equal(1, running.Counters["workers"]);

        reader.Close();
        Assert.False(transform.IsRunning);
        Assert.Null(transform.Output.TakeLatest()); // the stale result is dropped: the next viewer waits for a fresh one
        Assert.Equal("idle", transform.ReadCounters().State);
    }

    [Fact]
    public async Task SeveralSlowWorkers_ProcessEachFrameAtMostOnce_AndTheOutputNeverGoesBackInTime()
    {
        using var source = new Feed("src");
        await using var transform = new CopyTransform(source, workers: 3, delay: TimeSpan.FromMilliseconds(15));
        using var viewer = transform.Output.OpenReader();
        var seen = new List<byte>();
        var reading = Task.Run(async () =>
        {
            while (await viewer.WaitAsync())
            {
                if (viewer.TryTakeLatest(out Frame frame))
                {
                    seen.Add(frame.Span[0]);
                    frame.Release();
                }
            }
        });

        for (var i = 1; i <= 200; i++)
        {
            Publish(source, (byte)i);
            await Task.Delay(2); // far faster than one worker: the transform must skip, and several work at once
        }

        await Task.Delay(200);
        viewer.Close();
        await reading.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(transform.MaxConcurrent > 1, "more than one worker ran at a time");
        Assert.Equal(transform.Processed.Count, transform.Processed.Distinct().Count());
        Assert.True(seen.Count > 1);
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.True(seen[i] > seen[i - 1], $"output went from {seen[i - 1]} to {seen[i]}");
        }

        Assert.Equal(200, transform.Processed.Max());
        Assert.True(transform.SkippedFrames > 0);
        Assert.True(transform.ProcessedFrames + transform.SkippedFrames <= 200);
    }

    [Fact]
    public async Task AFrameThatCannotBeTransformed_IsCountedAsFailed_AndTheNextOneStillGoesThrough()
    {
        using var source = new Feed("src");
        await using var transform = new CopyTransform(source, workers: 1, delay: TimeSpan.Zero) { FailOn = 1 };
        using var viewer = transform.Output.OpenReader();
        Publish(source, 1);
        await WaitUntilAsync(() => transform.FailedFrames == 1);
        Publish(source, 2);
        Assert.True(await viewer.WaitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(viewer.TryTakeLatest(out Frame frame));
        Assert.Equal(2, frame.Span[0]);
        frame.Release();
    }

    private static void Publish(Feed feed, byte value)
    {
        var frame = feed.Pool.Rent(16);
        frame.GetWritableSpan(16).Fill(value);
        frame.Format = MediaFormat.Yuyv;
        feed.Publish(frame);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    /// <summary>Copies frames, slowly if asked, recording what it processed and how many ran at once.</summary>
    private sealed class CopyTransform(Feed source, int workers, TimeSpan delay)
        : LazyTransform<CopyTransform.Worker>(source, "out", workers, NullLogger.Instance)
    {
        private int _concurrent;

        public override string PartName => "copy";

        public ConcurrentBag<byte> Processed { get; } = [];

        public int MaxConcurrent { get; private set; }

        public int FailOn { get; init; } = -1;

        protected override Worker CreateWorker() => new();

        protected override VideoInfo DescribeOutput(VideoInfo source) => source;

        protected override Frame? Transform(Worker worker, Frame input, Feed output, out string? error)
        {
            var now = Interlocked.Increment(ref _concurrent);
            MaxConcurrent = Math.Max(MaxConcurrent, now);
            try
            {
                if (delay > TimeSpan.Zero)
                {
                    Thread.Sleep(delay);
                }

                if (input.Span[0] == FailOn)
                {
                    error = "scripted failure";
                    return null;
                }

                Processed.Add(input.Span[0]);
                var frame = output.Pool.Rent(input.Length);
                input.Span.CopyTo(frame.GetWritableSpan(input.Length));
                error = null;
                return frame;
            }
            finally
            {
                Interlocked.Decrement(ref _concurrent);
            }
        }

        public sealed class Worker : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}
