using Osprey.Media;
using Osprey.Sources.TestPattern;

namespace Osprey.Tests.Sources.TestPattern;

public class TestPatternGeneratorTests
{
    [Fact]
    public void StaticBars_HaveTheBt601YCbCrOfThe75PercentBars_AtEachBarCentre()
    {
        var generator = new TestPatternGenerator(640, 480);
        var frame = new byte[generator.FrameSize];
        generator.Draw(frame, 1, 0);
        var row = generator.Height - 10;
        for (var bar = 0; bar < 8; bar++)
        {
            var x = ((bar * 640 / 8) + (640 / 16)) & ~1;
            var o = (row * 640 * 2) + (x * 2);
            Assert.Equal(TestPatternGenerator.BarsYCbCr[bar * 3], frame[o]);       // Y0
            Assert.Equal(TestPatternGenerator.BarsYCbCr[(bar * 3) + 1], frame[o + 1]); // Cb
            Assert.Equal(TestPatternGenerator.BarsYCbCr[bar * 3], frame[o + 2]);   // Y1
            Assert.Equal(TestPatternGenerator.BarsYCbCr[(bar * 3) + 2], frame[o + 3]); // Cr
        }
    }

    [Fact]
    public void EveryFrame_CarriesTheProbeHeader_AndTheCounterInItsLastFourBytes()
    {
        var generator = new TestPatternGenerator(320, 240);
        var frame = new byte[generator.FrameSize];
        generator.Draw(frame, 77, 123456789);
        Assert.True(ProbeHeader.TryRead(frame, out var header));
        Assert.Equal(new ProbeHeader(77, 123456789, 320, 240, (uint)generator.FrameSize), header);
        Assert.True(ProbeHeader.IsIntact(frame, header));
    }

    [Fact]
    public void TheTopOfThePicture_Moves_WhileTheStaticBarsStayPut()
    {
        var generator = new TestPatternGenerator(640, 480);
        var a = new byte[generator.FrameSize];
        var b = new byte[generator.FrameSize];
        generator.Draw(a, 1, 0);
        generator.Draw(b, 2, 0);
        var rowBytes = 640 * 2;
        var top = 100 * rowBytes;
        Assert.False(a.AsSpan(top, rowBytes).SequenceEqual(b.AsSpan(top, rowBytes)));
        var staticStart = generator.StaticBarsTop * rowBytes;
        var staticLength = a.Length - staticStart - 4; // the last 4 bytes hold the frame counter
        Assert.True(a.AsSpan(staticStart, staticLength).SequenceEqual(b.AsSpan(staticStart, staticLength)));
    }

    [Theory]
    [InlineData(15, 480)]
    [InlineData(641, 480)]
    [InlineData(640, 7)]
    [InlineData(10000, 480)]
    public void UnusableSizes_AreRefusedWithAClearError(int width, int height)
    {
        var error = Assert.Throws<ArgumentException>(() => new TestPatternGenerator(width, height));
        Assert.Contains($"{width}x{height}", error.Message);
    }
}
