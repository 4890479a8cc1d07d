using Osprey.Codecs.Jpeg;
using Osprey.Media;

namespace Osprey.Tests.Codecs.Jpeg;

public class JpegProbeTests
{
    [Fact]
    public void Prefix_IsSoiThenAComSegmentOf34BytesHoldingTheHeader()
    {
        var buffer = new byte[JpegProbe.PrefixSize];
        var header = new ProbeHeader(5, 1_000_000, 640, 480, 12345);
        JpegProbe.WritePrefix(buffer, header);

        Assert.Equal(new byte[] { 0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x22 }, buffer[..6]);
        Assert.Equal("FOUT"u8.ToArray(), buffer[6..10]);
        Assert.Equal(38, JpegProbe.PrefixSize);
        Assert.True(JpegProbe.TryRead(buffer, out var read));
        Assert.Equal(header, read);
    }

    [Fact]
    public void TryRead_RejectsJpegsWithoutTheProbe_AndTruncatedOnes()
    {
        var buffer = new byte[JpegProbe.PrefixSize];
        JpegProbe.WritePrefix(buffer, new ProbeHeader(1, 2, 3, 4, 5));
        Assert.False(JpegProbe.TryRead(buffer.AsSpan(0, 37), out _));
        Assert.False(JpegProbe.TryRead(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10 }, out _));
        buffer[5] = 0x23; // a COM segment of another length is someone else's comment
        Assert.False(JpegProbe.TryRead(buffer, out _));
    }
}
