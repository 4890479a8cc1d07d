using System.Collections.Concurrent;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Tests.Feeds;

/// <summary>
/// Readers that asked to be woken from a fan-out thread (<see cref="SignalledReader.SignalOnFanOutThread"/>):
/// their continuations run on a lane thread, one pass per frame, a reader whose work is pending never holds the
/// others up, and both read modes keep their semantics.
/// </summary>
public class FanOutLaneTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ALaneReadersContinuation_RunsOnAFanOutThread_NotOnThePublishersThreadNorThePool()
    {
        using var feed = new Feed("lane-thread");
        using var reader = feed.OpenReader();
        reader.SignalOnFanOutThread();
        var threads = new ConcurrentQueue<string?>();
        var reading = Task.Run(async () =>
        {
            while (true)
            {
                // Only a wait that was pending is resumed by the lane; one the latch completed at once goes on here.
                var wait = reader.WaitAsync();
                var parked = !wait.IsCompleted;
                if (!await wait)
                {
                    return;
                }

                if (parked)
                {
                    threads.Enqueue(Thread.CurrentThread.Name);
                }

                if (reader.TryTakeLatest(out var frame))
                {
                    frame.Release();
                    if (threads.Count >= 5)
                    {
                        return;
                    }
                }
            }
        });

        for (var i = 0; i < 200 && !reading.IsCompleted; i++)
        {
            Publish(feed, i);
            await Task.Delay(10);
        }

        await reading.WaitAsync(s_timeout);
        Assert.True(threads.Count >= 5);
        Assert.All(threads, name => Assert.StartsWith("osprey-fanout-", name, StringComparison.Ordinal));
        Assert.Equal(0, FanOutLanes.Faults);
    }

    [Fact]
    public async Task AReaderWhoseSendIsPending_NeverDelaysTheOtherReadersOfItsLanes()
    {
        using var feed = new Feed("lane-stall");
        const int Readers = 2 * FanOutLanes.MaxLanes; // every lane gets the stalled reader's company
        const int Frames = 60;
        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stalled = feed.OpenReader();
        stalled.SignalOnFanOutThread();
        var stalledFrames = 0;
        var stalledLoop = Task.Run(async () =>
        {
            while (await stalled.WaitAsync())
            {
                if (stalled.TryTakeLatest(out var frame))
                {
                    using var lease = new FrameLease(frame);
                    Interlocked.Increment(ref stalledFrames);
                    await stuck.Task; // a send the kernel does not take: pending, never completes here
                }
            }
        });

        var last = new long[Readers];
        var others = Enumerable.Range(0, Readers).Select(_ => feed.OpenReader()).ToArray();
        var loops = others.Select((reader, index) =>
        {
            reader.SignalOnFanOutThread();
            return Task.Run(async () =>
            {
                while (await reader.WaitAsync())
                {
                    if (reader.TryTakeLatest(out var frame))
                    {
                        Volatile.Write(ref last[index], frame.Sequence);
                        frame.Release();
                    }
                }
            });
        }).ToArray();

        for (var i = 0; i < Frames; i++)
        {
            Publish(feed, i);
            var deadline = DateTime.UtcNow + s_timeout;
            // Each frame reaches every other reader while the stalled one still sits on its first.
            while (Enumerable.Range(0, Readers).Any(r => Volatile.Read(ref last[r]) < feed.LatestSequence))
            {
                Assert.True(DateTime.UtcNow < deadline, $"frame {i + 1}: a reader did not get it while another was stalled");
                await Task.Delay(1);
            }
        }

        Assert.Equal(1, Volatile.Read(ref stalledFrames));
        stalled.Close();
        foreach (var reader in others)
        {
            reader.Close();
        }

        stuck.SetResult();
        await Task.WhenAll([stalledLoop, .. loops]).WaitAsync(s_timeout);
        Assert.Equal(0, FanOutLanes.Faults);
    }

    [Fact]
    public async Task OrderedLaneReaders_GetEveryFrameInOrder_ThroughBurstsOfPublishes()
    {
        using var feed = new Feed("lane-ordered");
        const int Frames = 1000;
        const int Readers = 8;
        var readers = Enumerable.Range(0, Readers).Select(_ => feed.OpenOrderedReader(capacity: Frames + 1)).ToArray();
        var failures = new ConcurrentQueue<string>();
        var loops = readers.Select((reader, index) =>
        {
            reader.SignalOnFanOutThread();
            return Task.Run(async () =>
            {
                var expected = 1L;
                while (expected <= Frames && await reader.WaitAsync())
                {
                    while (reader.TryDequeue(out var frame))
                    {
                        if (frame.Sequence != expected)
                        {
                            failures.Enqueue($"reader {index}: got {frame.Sequence}, expected {expected}");
                        }

                        expected = frame.Sequence + 1;
                        frame.Release();
                    }
                }

                return expected - 1;
            });
        }).ToArray();

        // Bursts: many frames published between two passes of a lane, which must then drain them all.
        for (var i = 0; i < Frames; i++)
        {
            Publish(feed, i, isKeyFrame: i % 30 == 0);
            if (i % 100 == 99)
            {
                await Task.Delay(5);
            }
        }

        var got = await Task.WhenAll(loops).WaitAsync(s_timeout);
        Assert.Empty(failures);
        Assert.All(got, count => Assert.Equal(Frames, count));
        Assert.All(readers, reader => Assert.Equal(0, reader.SkippedFrames));
        foreach (var reader in readers)
        {
            reader.Close();
        }
    }

    [Fact]
    public async Task LatestModeLaneReaders_UnderTwoPublishers_NeverSeeAnOlderFrame_AndEndWithTheNewest()
    {
        using var feed = new Feed("lane-latest");
        const int Readers = 6;
        const int FramesPerPublisher = 1500;
        var failures = new ConcurrentQueue<string>();
        var readers = Enumerable.Range(0, Readers).Select(_ => feed.OpenReader()).ToArray();
        var newest = new long[Readers];
        var loops = readers.Select((reader, index) =>
        {
            reader.SignalOnFanOutThread();
            return Task.Run(async () =>
            {
                while (await reader.WaitAsync())
                {
                    if (!reader.TryTakeLatest(out var frame))
                    {
                        continue;
                    }

                    if (frame.Sequence <= Volatile.Read(ref newest[index]))
                    {
                        failures.Enqueue($"reader {index}: {frame.Sequence} after {newest[index]}");
                    }

                    Volatile.Write(ref newest[index], frame.Sequence);
                    frame.Release();
                }
            });
        }).ToArray();

        await Task.WhenAll(Enumerable.Range(0, 2).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < FramesPerPublisher; i++)
            {
                Publish(feed, i);
            }
        })));

        // No wake is lost: after the last publish every reader gets to the newest frame.
        var deadline = DateTime.UtcNow + s_timeout;
        while (Enumerable.Range(0, Readers).Any(r => Volatile.Read(ref newest[r]) < feed.LatestSequence))
        {
            Assert.True(DateTime.UtcNow < deadline, "a lane reader never got the newest frame");
            await Task.Delay(5);
        }

        foreach (var reader in readers)
        {
            reader.Close();
        }

        await Task.WhenAll(loops).WaitAsync(s_timeout);
        Assert.Empty(failures);
        Assert.Equal(2 * FramesPerPublisher, feed.Frames);
    }

    private static void Publish(Feed feed, int i, bool isKeyFrame = true)
    {
        var frame = feed.Pool.Rent(1024);
        frame.GetWritableSpan(1024)[0] = (byte)i;
        frame.StampCaptured(MediaFormat.Yuyv, 16, 32, isKeyFrame, captureTimeMicros: i + 1, captureTimestamp: i + 1);
        feed.Publish(frame);
    }
}
