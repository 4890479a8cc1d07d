using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Tests.Containers.MpegTs;

namespace Osprey.Tests.Ingest;

[Collection(Routing.ProcessCountersCollection.Name)]
public class MpegTsFeedWriterTests
{
    [Fact]
    public void Chunks_BecomeFrames_WithTheHeader_AndANewViewerStartsAtTheLatestKeyChunk()
    {
        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        using var feed = new Feed("video0") { KeepGroupOfPictures = true };
        using var early = feed.OpenOrderedReader(capacity: 1000);
        var writer = new MpegTsFeedWriter(feed, new ManualTimeProvider());
        for (var offset = 0; offset < stream.Length; offset += 1316)
        {
            writer.Write(stream.AsSpan(offset, Math.Min(1316, stream.Length - offset)));
            writer.Flush();
        }

        var header = feed.Header!;
        Assert.Equal((1, MpegTsFeedWriter.MimeType), (header.Version, header.MimeType));
        Assert.Equal(writer.Chunker.HeaderPackets.ToArray(), header.InitSegment.ToArray());
        Assert.Equal(0x100, TsProgram.FromPsiPackets(header.InitSegment.Span)!.Streams[0].Pid);
        Assert.Equal(MediaFormat.MpegTs, feed.Info.Format);

        // Every byte, in order, in frames of whole packets; key frames where the chunker said.
        var frames = new List<Frame>();
        while (early.TryDequeue(out var frame))
        {
            frames.Add(frame);
        }

        Assert.Equal(writer.Chunks, frames.Count);
        Assert.Equal(stream, frames.SelectMany(f => f.Span.ToArray()).ToArray());
        Assert.All(frames, f => Assert.Equal((MediaFormat.MpegTs, 1, 1_767_225_600_000_000L), (f.Format, f.HeaderVersion, f.CaptureTimeMicros)));
        Assert.Equal(5, frames.Count(f => f.IsKeyFrame));
        Assert.True(frames[0].IsKeyFrame);
        var lastKey = frames.FindLastIndex(f => f.IsKeyFrame);
        foreach (var frame in frames)
        {
            frame.Release();
        }

        // A viewer arriving now gets the last group of pictures at once, from its key chunk (PAT first).
        using var late = feed.OpenOrderedReader(capacity: 1000);
        Assert.True(late.TryDequeue(out var first));
        using (new FrameLease(first))
        {
            Assert.True(first.IsKeyFrame);
            Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(first.Span));
        }

        Assert.Equal(frames.Count - lastKey - 1, late.Queued);
    }

    [Fact]
    public void AReconnectingPublisher_KeepsTheVersionForTheSameTables_AndMovesOnForNewOnes()
    {
        using var feed = new Feed("cam") { KeepGroupOfPictures = true };
        var first = new MpegTsFeedWriter(feed);
        first.Write(TsFixtures.Load(TsFixtures.Mpeg1Video));
        first.Flush();
        Assert.Equal(1, feed.Header!.Version);

        var again = new MpegTsFeedWriter(feed);
        Assert.Equal(0, again.HeaderVersion);
        again.Write(TsFixtures.Load(TsFixtures.Mpeg1Video));
        again.Flush();
        Assert.Equal((1, 1), (feed.Header.Version, again.HeaderVersion));

        var other = new MpegTsFeedWriter(feed);
        other.Write(TsFixtures.Load(TsFixtures.H264));
        other.Flush();
        Assert.Equal((2, 2), (feed.Header.Version, other.HeaderVersion));
        Assert.Equal("h264", other.Program!.Streams[0].Codec);
        using var reader = feed.OpenOrderedReader(capacity: 1000);
        Assert.True(reader.TryDequeue(out var frame));
        using (new FrameLease(frame))
        {
            Assert.Equal(2, frame.HeaderVersion);
        }
    }

    [Fact]
    public void WithoutPsi_FramesNeedNoHeader()
    {
        var stripped = TsFixtures.Packets(TsFixtures.Load(TsFixtures.Mpeg1VideoMp2)).Where(p => !TsFixtures.IsPsi(p)).SelectMany(p => p).ToArray();
        using var feed = new Feed("jsmpeg") { KeepGroupOfPictures = true };
        using var reader = feed.OpenOrderedReader(capacity: 1000);
        var writer = new MpegTsFeedWriter(feed);
        writer.Write(stripped);
        writer.Flush();
        Assert.Null(feed.Header);
        Assert.Equal(3, writer.KeyChunks);
        Assert.True(reader.TryDequeue(out var frame));
        using (new FrameLease(frame))
        {
            Assert.Equal(0, frame.HeaderVersion);
            Assert.True(frame.IsKeyFrame);
        }
    }

    [Fact]
    public void SteadyState_PublishesWithoutAllocatingBeyondTheFeed()
    {
        var stream = TsFixtures.Load(TsFixtures.H264);
        using var feed = new Feed("h264") { KeepGroupOfPictures = false };
        var writer = new MpegTsFeedWriter(feed);
        for (var round = 0; round < 2; round++)
        {
            Publish(writer, stream);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        Publish(writer, stream);
        // Frames come from the feed's pool; the chunker and writer allocate nothing per chunk.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 1024, $"{GC.GetAllocatedBytesForCurrentThread() - allocated} bytes");
    }

    private static void Publish(MpegTsFeedWriter writer, byte[] stream)
    {
        for (var offset = 0; offset < stream.Length; offset += 1316)
        {
            writer.Write(stream.AsSpan(offset, Math.Min(1316, stream.Length - offset)));
            writer.Flush();
        }
    }
}
