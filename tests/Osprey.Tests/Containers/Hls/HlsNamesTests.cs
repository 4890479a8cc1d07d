using Osprey.Containers.Hls;

namespace Osprey.Tests.Containers.Hls;

public class HlsNamesTests
{
    [Fact]
    public void Names_RoundTrip()
    {
        Assert.Equal(new HlsResource(HlsResourceKind.Segment, 1796311250), HlsNames.Parse(HlsNames.Segment(1796311250)));
        Assert.Equal(new HlsResource(HlsResourceKind.Part, 17, 3), HlsNames.Parse(HlsNames.Part(17, 3)));
        Assert.Equal(new HlsResource(HlsResourceKind.Init, 42, 2), HlsNames.Parse(HlsNames.Init(42, 2)));
        Assert.Equal(HlsResourceKind.Multivariant, HlsNames.Parse("index.m3u8").Kind);
        Assert.Equal(HlsResourceKind.MediaPlaylist, HlsNames.Parse("media.m3u8").Kind);
        Assert.Equal(HlsResourceKind.PlainPlaylist, HlsNames.Parse("plain.m3u8").Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.m4")] // truncated
    [InlineData("1.")]
    [InlineData(".m4s")]
    [InlineData("1..m4s")]
    [InlineData("1.2.3.m4s")]
    [InlineData("-1.m4s")]
    [InlineData("+1.m4s")]
    [InlineData("01.m4s")] // a second spelling of 1 would be a second cache entry
    [InlineData("1.x.m4s")]
    [InlineData("1.99999999999.m4s")] // part index past int
    [InlineData("1234567890123456789.m4s")] // 19 digits
    [InlineData("init-.mp4")]
    [InlineData("init-1.mp4")]
    [InlineData("init-1-.mp4")]
    [InlineData("init-1-2-3.mp4")]
    [InlineData("INDEX.m3u8")]
    [InlineData("index.m3u8x")]
    [InlineData("../index.m3u8")]
    [InlineData("1\u0661.m4s")] // an Arabic-Indic digit
    public void CorruptedOrTruncatedNames_AreNotResources(string name) =>
        Assert.Equal(HlsResourceKind.None, HlsNames.Parse(name).Kind);

    [Fact]
    public void OversizedNames_AreNotResources() =>
        Assert.Equal(HlsResourceKind.None, HlsNames.Parse(new string('1', 10_000) + ".m4s").Kind);

    [Theory]
    [InlineData(null, null, null, null, null, false)]
    [InlineData("5", null, null, 5L, null, false)]
    [InlineData("5", "0", "YES", 5L, 0, true)]
    [InlineData("5", "2", "v2", 5L, 2, true)]
    public void Directives_Parse(string? msn, string? part, string? skip, long? wantMsn, int? wantPart, bool wantSkip)
    {
        Assert.True(HlsDirectives.TryParse(msn, part, skip, out var d, out var error), error);
        Assert.Equal(new HlsDirectives(wantMsn, wantPart, wantSkip), d);
    }

    [Theory]
    [InlineData(null, "1", null)] // a part without its segment
    [InlineData("", null, null)]
    [InlineData("-1", null, null)]
    [InlineData("1e3", null, null)]
    [InlineData("12345678901234567890", null, null)]
    [InlineData("5", "x", null)]
    [InlineData("5", "3000000000", null)]
    [InlineData("5", null, "NO")]
    [InlineData("5", null, "yes")]
    public void BadDirectives_AreRefusedWithAReason(string? msn, string? part, string? skip)
    {
        Assert.False(HlsDirectives.TryParse(msn, part, skip, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
