using Osprey.Media;

namespace Osprey.Tests.Media;

public class ProbeHeaderTests
{
    [Fact]
    public void WriteTo_ProducesTheDocumentedLittleEndianLayout_AndTheTrailingCounter()
    {
        var frame = new byte[64];
        new ProbeHeader(0x01020304, 0x1122334455667788, 640, 480, 64).WriteTo(frame);

        byte[] expected =
        [
            (byte)'F', (byte)'O', (byte)'U', (byte)'T',
            0x04, 0x03, 0x02, 0x01,
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
            0x80, 0x02, 0xE0, 0x01,
            64, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0,
        ];
        Assert.Equal(expected, frame[..32]);
        Assert.Equal(new byte[] { 0x04, 0x03, 0x02, 0x01 }, frame[^4..]);
    }

    [Fact]
    public void TryRead_RoundTrips_AndIsIntactDetectsATornFrame()
    {
        var frame = new byte[100];
        var header = new ProbeHeader(42, 1_700_000_000_000_000, 320, 240, 100);
        header.WriteTo(frame);
        Assert.True(ProbeHeader.TryRead(frame, out var read));
        Assert.Equal(header, read);
        Assert.True(ProbeHeader.IsIntact(frame, read));

        frame[^1] ^= 0xFF; // the tail of another frame
        Assert.False(ProbeHeader.IsIntact(frame, read));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(31)]
    public void TryRead_RejectsTruncatedInput(int length)
    {
        var frame = new byte[64];
        new ProbeHeader(1, 2, 3, 4, 64).WriteTo(frame);
        Assert.False(ProbeHeader.TryRead(frame.AsSpan(0, length), out _));
    }

    [Fact]
    public void TryRead_RejectsAFrameWithoutTheMagic()
    {
        var frame = new byte[64];
        Random.Shared.NextBytes(frame);
        frame[0] = (byte)'X';
        Assert.False(ProbeHeader.TryRead(frame, out _));
    }

    [Fact]
    public void WriteTo_RefusesAFrameTooSmallForHeaderAndTrailer()
    {
        Assert.Throws<ArgumentException>(() => new ProbeHeader(1, 2, 3, 4, 5).WriteTo(new byte[35]));
    }
}
