using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Tests.Feeds;

public class OrderedReaderTests
{
    [Fact]
    public void NewReader_StartsAtOnce_FromTheLatestKeyFrame_ThenGetsEveryFrameInOrder()
    {
        using var feed = new Feed("h264") { KeepGroupOfPictures = true };
        Publish(feed, 1, key: true);
        Publish(feed, 2);
        Publish(feed, 3, key: true); // the group to start from
        Publish(feed, 4);
        Publish(feed, 5);
        using var reader = feed.OpenOrderedReader();
        Publish(feed, 6);
        Publish(feed, 7);

        Assert.Equal(new byte[] { 3, 4, 5, 6, 7 }, Drain(reader));
        Assert.Equal(0, reader.SkippedFrames);
    }

    [Fact]
    public void StartingAtTheNextKeyFrame_SkipsTheRestOfTheCurrentGroup()
    {
        using var feed = new Feed("h264") { KeepGroupOfPictures = true };
        Publish(feed, 1, key: true);
        using var reader = feed.OpenOrderedReader(startAtNextKeyFrame: true);
        Publish(feed, 2);
        Publish(feed, 3, key: true);
        Publish(feed, 4);
        Assert.Equal(new byte[] { 3, 4 }, Drain(reader));
        Assert.Equal(0, feed.Drops); // waiting for a first key frame misses nothing
    }

    [Fact]
    public void ReaderThatFallsBehind_DropsItsQueue_AndResumesAtTheNextKeyFrame_NeverMidGroup()
    {
        using var feed = new Feed("h264") { KeepGroupOfPictures = true };
        using var slow = feed.OpenOrderedReader(capacity: 4);
        using var fast = feed.OpenOrderedReader(capacity: 4);
        var fastSeen = new List<byte>();
        for (var i = 1; i <= 20; i++)
        {
            Publish(feed, (byte)i, key: i % 8 == 1); // key frames 1, 9, 17
            fastSeen.AddRange(Drain(fast));
        }

        // The fast reader saw everything; the slow one kept at most 4 frames and restarted at a key frame.
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (byte)i), fastSeen);
        var slowSeen = Drain(slow);
        Assert.Equal(17, slowSeen[0]);
        Assert.Equal(new byte[] { 17, 18, 19, 20 }, slowSeen);
        Assert.Equal(16, slow.SkippedFrames);
        Assert.True(slow.SkipEvents >= 1);
        // The feed counts what its readers missed (shown as drops in /api/feeds).
        Assert.Equal(16, feed.Drops);
        // Nothing piled up for the slow reader: the pool holds its queue (4), the cached group (4) and nothing more.
        Assert.True(feed.Pool.Outstanding <= 8, $"{feed.Pool.Outstanding} frames out of the pool");
    }

    [Fact]
    public void AGroupTooLongToCache_IsDropped_AndNewReadersWaitForTheNextKeyFrame()
    {
        using var feed = new Feed("h264") { KeepGroupOfPictures = true, MaxGroupOfPicturesFrames = 5 };
        Publish(feed, 1, key: true);
        for (var i = 2; i <= 8; i++)
        {
            Publish(feed, (byte)i);
        }

        Assert.Equal(0, feed.CachedGroupOfPicturesFrames);
        using var reader = feed.OpenOrderedReader();
        Publish(feed, 9);
        Publish(feed, 10, key: true);
        Assert.Equal(new byte[] { 10 }, Drain(reader));
        Assert.Equal(1, feed.CachedGroupOfPicturesFrames);
    }

    [Fact]
    public async Task WaitAsync_CompletesOnPublish_AndClosingGivesBackQueuedFrames()
    {
        var feed = new Feed("h264") { KeepGroupOfPictures = true };
        var reader = feed.OpenOrderedReader();
        var wait = reader.WaitAsync().AsTask();
        Assert.False(wait.IsCompleted);
        Publish(feed, 1, key: true);
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Publish(feed, 2);
        Assert.Equal(2, reader.Queued);

        reader.Close();
        Assert.False(await reader.WaitAsync());
        Assert.Equal(0, feed.ReaderCount);
        feed.Dispose();
        Assert.Equal(0, feed.Pool.Outstanding);
    }

    [Fact]
    public void AReaderIsBoundedInBytes_BeforeFrames_SkippingToTheNewestKeyFrame()
    {
        // Frames of 32 bytes, all key frames (as raw pictures are): a 100-byte budget holds 3 of them, not 2,048.
        using var feed = new Feed("raw");
        using var reader = feed.OpenOrderedReader(capacity: 2048, maxBytes: 100);
        for (var i = 1; i <= 10; i++)
        {
            Publish(feed, (byte)i, key: true);
            Assert.InRange(reader.QueuedBytes, 32, 96);
        }

        // The frame that would have gone over dropped the queue and started it again, from itself.
        Assert.Equal(new byte[] { 10 }, Drain(reader));
        Assert.Equal(9, reader.SkippedFrames);
        Assert.Equal(9, feed.Drops);
        Assert.Equal(0, reader.QueuedBytes);
    }

    private static void Publish(Feed feed, byte value, bool key = false)
    {
        var frame = feed.Pool.Rent(32);
        frame.GetWritableSpan(32).Fill(value);
        frame.IsKeyFrame = key;
        frame.Format = MediaFormat.H264;
        feed.Publish(frame);
    }

    private static byte[] Drain(OrderedFeedReader reader)
    {
        var values = new List<byte>();
        while (reader.TryDequeue(out var frame))
        {
            values.Add(frame.Span[0]);
            frame.Release();
        }

        return [.. values];
    }
}
