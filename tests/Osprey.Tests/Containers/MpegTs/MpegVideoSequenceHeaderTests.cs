using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;

namespace Osprey.Tests.Containers.MpegTs;

public class MpegVideoSequenceHeaderTests
{
    [Fact]
    public void FfmpegsMpeg1Video_GivesItsSizeAndRate_ToTheFeed()
    {
        using var feed = new Feed("video0") { KeepGroupOfPictures = true };
        var writer = new MpegTsFeedWriter(feed);
        writer.Write(TsFixtures.Load(TsFixtures.Mpeg1Video));
        writer.Flush();
        Assert.Equal(new VideoInfo(MediaFormat.MpegTs, 160, 120, 25), feed.Info);
    }

    [Fact]
    public void StreamsWithoutMpegVideo_AndTruncatedOrRandomBytes_GiveNothing()
    {
        Assert.False(MpegVideoSequenceHeader.TryRead(TsFixtures.Load(TsFixtures.H264), out _, out _, out _, maxPackets: 1000));
        Assert.False(MpegVideoSequenceHeader.TryRead(TsFixtures.Load(TsFixtures.Mp2), out _, out _, out _, maxPackets: 1000));
        Assert.False(MpegVideoSequenceHeader.TryRead([], out _, out _, out _));

        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 188 * 4)];
            random.NextBytes(bytes);
            _ = MpegVideoSequenceHeader.TryRead(bytes, out var width, out var height, out _);
            Assert.InRange(width, 0, 4095);
            Assert.InRange(height, 0, 4095);
        }

        // A start code at the very end of a payload, with its fields cut off, is not read.
        var cut = new byte[TsPacket.Size];
        TsPacket.WriteHeader(cut, 0x100, payloadUnitStart: true, continuityCounter: 0);
        ((ReadOnlySpan<byte>)[0x00, 0x00, 0x01, 0xB3]).CopyTo(cut.AsSpan(TsPacket.Size - 4));
        Assert.False(MpegVideoSequenceHeader.TryRead(cut, out _, out _, out _));

        var mpeg1 = TsFixtures.Load(TsFixtures.Mpeg1Video);
        Assert.True(MpegVideoSequenceHeader.TryRead(mpeg1, out var w, out var h, out var fps, maxPackets: 1000));
        Assert.Equal((160, 120, 25.0), (w, h, fps));
    }
}
