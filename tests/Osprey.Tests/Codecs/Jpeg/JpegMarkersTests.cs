using Osprey.Codecs.Jpeg;

namespace Osprey.Tests.Codecs.Jpeg;

public class JpegMarkersTests
{
    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void TryReadSize_ReadsTheFrameHeaderOfRealFfmpegJpegs()
    {
        foreach (var jpeg in FfmpegJpegs.Frames320x240)
        {
            Assert.True(JpegMarkers.TryReadSize(jpeg, out var width, out var height));
            Assert.Equal(320, width);
            Assert.Equal(240, height);
        }
    }

    [Fact]
    public void TryReadSize_SkipsAnApp1ThumbnailWithItsOwnFrameHeader()
    {
        var jpeg = TestJpegs.WithThumbnail(width: 640, height: 360);

        Assert.True(JpegMarkers.TryReadSize(jpeg, out var width, out var height));
        Assert.Equal((640, 360), (width, height));
    }

    [Theory]
    [InlineData(0x0001, 0x0001)]
    [InlineData(1920, 1080)]
    [InlineData(0xFFFF, 0xFFFF)]
    public void TryReadSize_ReadsBigEndianDimensions_FromBaselineAndProgressiveFrames(int w, int h)
    {
        Assert.True(JpegMarkers.TryReadSize(TestJpegs.Baseline(w, h, fillBytes: 2), out var width, out var height));
        Assert.Equal((w, h), (width, height));
        Assert.True(JpegMarkers.TryReadSize(TestJpegs.Progressive(w, h), out width, out height));
        Assert.Equal((w, h), (width, height));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void TryReadSize_IsFalseForEveryTruncationBeforeTheDimensionsAreComplete()
    {
        var jpeg = FfmpegJpegs.Frames320x240[0];
        var sof = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC0 });
        // FF C0, length, precision, height, width: the size is known once byte sof + 8 is in.
        for (var length = 0; length < sof + 9; length++)
        {
            Assert.False(JpegMarkers.TryReadSize(jpeg.AsSpan(0, length), out var width, out var height), $"length {length}");
            Assert.Equal((0, 0), (width, height));
        }

        Assert.True(JpegMarkers.TryReadSize(jpeg.AsSpan(0, sof + 9), out _, out _));
    }

    [Fact]
    public void TryReadSize_IsFalseForNonJpegs_ScansBeforeTheFrame_AndZeroDimensions()
    {
        Assert.False(JpegMarkers.TryReadSize("GIF89a.........."u8, out _, out _));
        Assert.False(JpegMarkers.TryReadSize([], out _, out _));
        // SOI, then straight to a scan, then EOI: no frame header to read.
        Assert.False(JpegMarkers.TryReadSize([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0, 0xFF, 0xD9], out _, out _));
        Assert.False(JpegMarkers.TryReadSize([0xFF, 0xD8, 0xFF, 0xD9], out _, out _));
        // A segment length below 2 and a reserved marker code are corrupt.
        Assert.False(JpegMarkers.TryReadSize([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xC0], out _, out _));
        Assert.False(JpegMarkers.TryReadSize([0xFF, 0xD8, 0xFF, 0x42, 0x00, 0x02], out _, out _));
        // A frame header is 8 bytes plus 3 per component: 10 is no frame header.
        Assert.False(JpegMarkers.TryReadSize([0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0A, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01], out _, out _));
        // Height 0 defers the height to a DNL marker after the first scan, which is not read.
        Assert.False(JpegMarkers.TryReadSize(TestJpegs.Baseline(16, 0), out _, out _));
        Assert.False(JpegMarkers.TryReadSize(TestJpegs.Baseline(0, 16), out _, out _));
    }

    [Fact]
    public void TryReadSize_SkipsStandaloneMarkersAndNonFrameSofCodes()
    {
        // TEM and RST stand alone; DHT (C4) and DAC (CC) sit in the C0-CF range but are not frame headers.
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0x01, 0xFF, 0xD0, 0xFF, 0xC4, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xCC, 0x00, 0x04, 0x00, 0x00,
            0xFF, 0xFF, 0xCF, 0x00, 0x0B, 0x08, 0x00, 0x20, 0x00, 0x40, 0x01, 0x01, 0x11, 0x00];

        Assert.True(JpegMarkers.TryReadSize(jpeg, out var width, out var height));
        Assert.Equal((64, 32), (width, height));
    }
}
