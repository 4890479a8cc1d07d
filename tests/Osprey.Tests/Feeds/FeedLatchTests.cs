using System.Buffers.Binary;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Tests.Feeds;

public class FeedLatchTests
{
    private const int FrameSize = 64 * 1024;

    [Fact]
    public async Task ConcurrentPublishersAndReaders_NeverSeeATornOverwrittenOrOlderFrame()
    {
        using var feed = new Feed("latch");
        const int Publishers = 2;
        const int FramesPerPublisher = 1500;
        const int Readers = 6;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var readerFrames = new long[Readers];
        var readerDrops = new long[Readers];
        var readerSpan = new long[Readers];

        var readerTasks = Enumerable.Range(0, Readers).Select(index => Task.Run(async () =>
        {
            using var reader = feed.OpenReader();
            var lastSequence = 0L;
            var firstSequence = 0L;
            while (await reader.WaitAsync())
            {
                if (!reader.TryTakeLatest(out Frame frame))
                {
                    continue;
                }

                using var lease = new FrameLease(frame);
                if (frame.Sequence <= lastSequence)
                {
                    failures.Enqueue($"reader {index} saw sequence {frame.Sequence} after {lastSequence}");
                }

                lastSequence = frame.Sequence;
                if (firstSequence == 0)
                {
                    firstSequence = frame.Sequence;
                }

                var token = CheckUniform(frame.Span, failures);
                // Hold the frame while publishing goes on: it must not be overwritten under us.
                if (index % 2 == 0)
                {
                    Thread.SpinWait(2000);
                }
                else
                {
                    await Task.Yield();
                }

                if (CheckUniform(frame.Span, failures) != token)
                {
                    failures.Enqueue($"reader {index}: frame {frame.Sequence} changed while held");
                }

                readerFrames[index]++;
            }

            readerDrops[index] = reader.Drops;
            readerSpan[index] = lastSequence - firstSequence + 1;
        })).ToArray();

        var publisherTasks = Enumerable.Range(0, Publishers).Select(p => Task.Run(() =>
        {
            for (var i = 1; i <= FramesPerPublisher; i++)
            {
                var frame = feed.Pool.Rent(FrameSize);
                var token = (uint)((p << 24) | i);
                var span = frame.GetWritableSpan(FrameSize);
                for (var o = 0; o < span.Length; o += 4)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(span[o..], token);
                }

                feed.Publish(frame);
                if (i % 50 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        })).ToArray();

        await Task.WhenAll(publisherTasks).WaitAsync(TimeSpan.FromSeconds(60));
        // Let readers take the last frame, then end the feed, which wakes them with nothing more to read.
        await Task.Delay(100);
        feed.Dispose();
        await Task.WhenAll(readerTasks).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(failures);
        Assert.Equal(Publishers * FramesPerPublisher, feed.Frames);
        Assert.All(readerFrames, count => Assert.True(count > 0));
        Assert.Equal(0, feed.Pool.Outstanding);
        // Every frame from a reader's first to its last was either taken or counted as dropped.
        for (var i = 0; i < Readers; i++)
        {
            Assert.Equal(readerSpan[i], readerFrames[i] + readerDrops[i]);
        }

        Assert.Equal(readerDrops.Sum(), feed.Drops);
    }

    [Fact]
    public void SlowReader_GetsTheNewestFrame_AndTheSkippedOnesAreCountedOnReaderAndFeed()
    {
        using var feed = new Feed("drops");
        using var reader = feed.OpenReader();
        Publish(feed, 1);
        Assert.True(reader.TryTakeLatest(out Frame first));
        first.Release();

        for (var i = 2; i <= 6; i++)
        {
            Publish(feed, (byte)i);
        }

        Assert.True(reader.TryTakeLatest(out Frame newest));
        Assert.Equal(6, newest.Sequence);
        Assert.Equal(6, newest.Span[0]);
        newest.Release();
        Assert.Equal(4, reader.Drops);
        Assert.Equal(4, feed.Drops);
        Assert.False(reader.TryTakeLatest(out Frame _));
    }

    [Fact]
    public void PooledBuffers_ComeBackAfterTheLastRelease()
    {
        var feed = new Feed("pool");
        using var a = feed.OpenReader();
        using var b = feed.OpenReader();
        Publish(feed, 1);
        Assert.True(a.TryTakeLatest(out Frame fa));
        Assert.True(b.TryTakeLatest(out Frame fb));
        Assert.Same(fa, fb);
        Assert.Equal(3, fa.References); // the feed's and two readers'

        Publish(feed, 2); // the feed lets go of frame 1; the readers still hold it
        Assert.Equal(2, feed.Pool.Outstanding);
        Assert.Equal(1, fa.Span[0]);
        fa.Release();
        Assert.Equal(2, feed.Pool.Outstanding);
        fb.Release();
        Assert.Equal(1, feed.Pool.Outstanding); // only the latched frame 2
        var freeBefore = feed.Pool.FreeCount;

        feed.Dispose();
        Assert.Equal(0, feed.Pool.Outstanding);
        Assert.Equal(freeBefore + 1, feed.Pool.FreeCount);
    }

    [Fact]
    public void HeldFrame_IsNeverReusedWhilePublishingGoesOn_AndPublishNeverWaits()
    {
        using var feed = new Feed("held");
        using var stalled = feed.OpenReader();
        Publish(feed, 7);
        Assert.True(stalled.TryTakeLatest(out Frame held));

        for (var i = 0; i < 1000; i++)
        {
            Publish(feed, (byte)(i % 200));
        }

        Assert.All(held.Span.ToArray(), b => Assert.Equal(7, b));
        Assert.Equal(2, feed.Pool.Outstanding); // the held frame and the latched one: nothing piles up
        Assert.True(feed.Pool.Allocated <= 3, $"allocated {feed.Pool.Allocated} frames");
        held.Release();
    }

    [Fact]
    public async Task WaitAsync_CompletesOnPublish_NotBefore()
    {
        using var feed = new Feed("signal");
        using var reader = feed.OpenReader();
        var wait = reader.WaitAsync().AsTask();
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);

        Publish(feed, 1);
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(reader.TryTakeLatest(out Frame frame));
        frame.Release();
    }

    [Fact]
    public async Task CloseAndFeedDispose_WakeAWaitingReaderWithFalse()
    {
        var feed = new Feed("close");
        var closing = feed.OpenReader();
        var closed = closing.WaitAsync().AsTask();
        closing.Close();
        Assert.False(await closed.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, feed.ReaderCount);

        var ending = feed.OpenReader();
        var ended = ending.WaitAsync().AsTask();
        feed.Dispose();
        Assert.False(await ended.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(await ending.WaitAsync());
    }

    [Fact]
    public async Task Wake_CompletesAWaitWithoutAFrame_Once()
    {
        using var feed = new Feed("wake");
        using var reader = feed.OpenReader();
        var wait = reader.WaitAsync().AsTask();
        reader.Wake();
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(reader.ConsumeWake());
        Assert.False(reader.ConsumeWake());
        Assert.False(reader.TryTakeLatest(out Frame _));
    }

    [Fact]
    public async Task ReaderOpenedAfterFrames_StartsAtTheLatchedFrame_WithoutCountingEarlierOnesAsDrops()
    {
        using var feed = new Feed("late");
        Publish(feed, 1);
        Publish(feed, 2);
        using var reader = feed.OpenReader();
        Assert.True(await reader.WaitAsync());
        Assert.True(reader.TryTakeLatest(out Frame frame));
        Assert.Equal(2, frame.Sequence);
        frame.Release();
        Assert.Equal(0, reader.Drops);
    }

    [Fact]
    public async Task WaitForFrameAsync_TimesOutWithNull_AndReturnsAFrameOnceOneComes()
    {
        using var feed = new Feed("first");
        Assert.Null(await feed.WaitForFrameAsync(TimeSpan.FromMilliseconds(50)));

        var waiting = feed.WaitForFrameAsync(TimeSpan.FromSeconds(5));
        Publish(feed, 9);
        var frame = await waiting;
        Assert.NotNull(frame);
        Assert.Equal(9, frame.Span[0]);
        frame.Release();
    }

    private static void Publish(Feed feed, byte fill)
    {
        var frame = feed.Pool.Rent(256);
        frame.GetWritableSpan(256).Fill(fill);
        feed.Publish(frame);
    }

    private static uint CheckUniform(ReadOnlySpan<byte> span, System.Collections.Concurrent.ConcurrentQueue<string> failures)
    {
        var token = BinaryPrimitives.ReadUInt32LittleEndian(span);
        for (var o = 4; o < span.Length; o += 4)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(span[o..]) != token)
            {
                failures.Enqueue($"torn frame: word at {o} differs from the first");
                break;
            }
        }

        return token;
    }
}
