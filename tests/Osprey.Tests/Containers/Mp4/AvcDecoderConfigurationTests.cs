using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;

namespace Osprey.Tests.Containers.Mp4;

/// <summary>The one writer of the avcC record, which the init segments and the WebCodecs description share.</summary>
public class AvcDecoderConfigurationTests
{
    private static readonly byte[] s_highSps = [0x67, 100, 0x00, 31, 0xAC, 0xD9, 0x40];
    private static readonly byte[] s_baselineSps = [0x67, 66, 0xC0, 30, 0xDA, 0x01];
    private static readonly byte[] s_pps = [0x68, 0xEB, 0xE3, 0xCB];

    [Fact]
    public void Write_CopiesProfileAndLevelAndLengthPrefixesBothSets()
    {
        var record = new byte[AvcDecoderConfiguration.GetSize(s_baselineSps, s_pps, tail: true)];

        var length = AvcDecoderConfiguration.Write(record, s_baselineSps, s_pps, tail: new SpsInfo(66, 0xC0, 30, 0, 640, 480, 1, null));

        byte[] expected = [1, 66, 0xC0, 30, 0xFF, 0xE1, 0, 6, .. s_baselineSps, 1, 0, 4, .. s_pps];
        Assert.Equal(expected, record[..length]);
        Assert.Equal(expected.Length, record.Length); // profile 66 has no tail even when asked for one
    }

    [Fact]
    public void Write_ForAHighProfile_AppendsChromaAndBitDepthsOnlyWhenAsked()
    {
        var info = new SpsInfo(100, 0, 31, 0, 640, 480, 1, null) { BitDepthLuma = 10 };
        var withTail = new byte[AvcDecoderConfiguration.GetSize(s_highSps, s_pps, tail: true)];
        var withoutTail = new byte[AvcDecoderConfiguration.GetSize(s_highSps, s_pps, tail: false)];

        AvcDecoderConfiguration.Write(withTail, s_highSps, s_pps, info);
        AvcDecoderConfiguration.Write(withoutTail, s_highSps, s_pps, tail: null);

        Assert.Equal(withoutTail.Length + AvcDecoderConfiguration.HighProfileTailSize, withTail.Length);
        Assert.Equal(withoutTail, withTail[..withoutTail.Length]);
        Assert.Equal(new byte[] { 0xFD, 0xFA, 0xF8, 0 }, withTail[^4..]);
    }

    [Fact]
    public void Write_IntoTooSmallADestination_Throws()
    {
        var record = new byte[AvcDecoderConfiguration.GetSize(s_baselineSps, s_pps, tail: false) - 1];

        Assert.Throws<ArgumentOutOfRangeException>(() => AvcDecoderConfiguration.Write(record, s_baselineSps, s_pps, tail: null));
    }

    [Fact]
    public void Fmp4InitSegment_CarriesTheSameRecordInItsAvcC()
    {
        var info = new SpsInfo(100, 0, 31, 0, 640, 480, 1, null);
        var init = new byte[Fmp4Writer.GetInitSegmentSize(s_highSps, s_pps)];
        Fmp4Writer.WriteInitSegment(init, s_highSps, s_pps, info);
        var record = new byte[AvcDecoderConfiguration.GetSize(s_highSps, s_pps, tail: true)];
        AvcDecoderConfiguration.Write(record, s_highSps, s_pps, info);

        var avcC = init.AsSpan().IndexOf("avcC"u8);
        Assert.True(avcC > 0);
        Assert.Equal(record, init.AsSpan(avcC + 4, record.Length).ToArray());
    }
}
