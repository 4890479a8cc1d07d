using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;
using Osprey.Media;

namespace Osprey.Tests.Codecs.H264;

public class H264ProbeTests
{
    public static TheoryData<ProbeHeader> Headers => new()
    {
        new ProbeHeader(12345, 1_732_000_000_123_456, 1920, 1080, 104_857),
        // Zeros everywhere: 00 00 00 and 00 00 01..03 runs that need emulation-prevention bytes.
        new ProbeHeader(0, 0, 0, 0, 0),
        new ProbeHeader(0x00010000, 0x0000000300000002, 1, 0, 0x00000100),
        new ProbeHeader(uint.MaxValue, long.MaxValue, ushort.MaxValue, ushort.MaxValue, uint.MaxValue),
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public void AnyHeader_RoundTripsThroughAnAnnexBAccessUnit_InAConstantSize(ProbeHeader header)
    {
        var probe = new byte[H264Probe.AnnexBSize + 10];

        var written = H264Probe.WriteAnnexB(probe, header);

        Assert.Equal(72, H264Probe.AnnexBSize);
        Assert.Equal(H264Probe.AnnexBSize, written);
        var nal = probe.AsSpan(4, written - 4);
        // A valid NAL unit: no 00 00 00..02 inside (so no false start code), no 00 00 03 left unescaped.
        for (var i = 0; i + 2 < nal.Length; i++)
        {
            Assert.False(nal[i] == 0 && nal[i + 1] == 0 && nal[i + 2] <= 3 && !IsEscape(nal, i), $"00 00 {nal[i + 2]:x2} at {i}");
        }

        byte[] au = [0, 0, 0, 1, 0x09, 0xF0, .. probe.AsSpan(0, written), 0, 0, 1, 0x65, 0x88, 0x84];
        Assert.True(H264Probe.TryRead(au, out var read));
        Assert.Equal(header, read);
        Assert.Equal(3, CountNals(au));
    }

    [Fact]
    public void AHeaderFullOfZeros_NeedsEmulationPrevention_AndThePaddingShrinksToMatch()
    {
        var zeros = new byte[H264Probe.AnnexBSize];
        var plain = new byte[H264Probe.AnnexBSize];

        H264Probe.WriteAnnexB(zeros, new ProbeHeader(0, 0, 0, 0, 0));
        H264Probe.WriteAnnexB(plain, new ProbeHeader(0x11111111, 0x2222222222222222, 0x3333, 0x4444, 0x55555555));

        // 06 05 size, then UUID: the payload size says how many padding bytes were left after escaping.
        Assert.Equal([0, 0, 0, 1, 0x06, 0x05], zeros[..6]);
        Assert.Equal(H264Probe.Uuid.ToArray(), zeros[7..23]);
        // "FOUT" then 28 zeros: an 03 goes before the 3rd, 5th, ... 27th zero, 13 in all; the last pair meets FF.
        Assert.Equal(13, zeros.AsSpan(23, 48).Count((byte)3));
        Assert.Equal(16 + 32 + 16 - 13, zeros[6]);
        Assert.Equal([0x46, 0x4F, 0x55, 0x54, 0, 0, 3, 0, 0, 3, 0], zeros[23..34]);
        // Only the 8 reserved zeros end the plain header: 00 00 03 00 00 03 00 00 03 00 00, 3 escapes.
        Assert.Equal(16 + 32 + 16 - 3, plain[6]);
        Assert.Equal([0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0, 0xFF], plain[(23 + 24)..(23 + 24 + 12)]);
        Assert.Equal(0x80, zeros[^1]);
        Assert.Equal(0xFF, zeros[^2]);
    }

    [Fact]
    public void TheProbe_IsFoundInAnAvccSample_AsFmp4WriterStoresIt()
    {
        var header = new ProbeHeader(7, 1_700_000_000_000_000, 320, 240, 999);
        var probe = new byte[H264Probe.AnnexBSize];
        H264Probe.WriteAnnexB(probe, header);
        byte[] au = [0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x0D, 0, 0, 0, 1, 0x68, 0xCB, .. probe, 0, 0, 0, 1, 0x65, 0x88, 0x84];
        var segment = new byte[Fmp4Writer.GetMediaSegmentSize(au)];
        Fmp4Writer.WriteMediaSegment(segment, au, 1, 0, 3000, true);

        var sample = segment.AsSpan(Fmp4Writer.MoofSize + 8);

        Assert.True(H264Probe.TryRead(sample, out var read));
        Assert.Equal(header, read);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void OtherSeiMessages_AreSkipped_IncludingX264sOwnUserData_AndTheProbeIsFoundAfterThem()
    {
        var stream = FfmpegH264.Encode(320, 240, "high", 1);
        var header = new ProbeHeader(3, 5, 320, 240, 0);
        Assert.False(H264Probe.TryRead(stream, out _));

        // x264's SEI (user_data_unregistered with its own UUID and a long text) with ours appended to the same NAL.
        var x264Sei = SpsParserTests.FirstNal(stream, NalUnitType.Sei);
        var probe = new byte[H264Probe.AnnexBSize];
        H264Probe.WriteAnnexB(probe, header);
        byte[] combined = [0, 0, 0, 1, .. x264Sei[..^1], .. probe[5..]];

        Assert.True(H264Probe.TryRead(combined, out var read));
        Assert.Equal(header, read);
    }

    [Fact]
    public void ADifferentUuid_OrACutProbe_IsNotRead()
    {
        var probe = new byte[H264Probe.AnnexBSize];
        H264Probe.WriteAnnexB(probe, new ProbeHeader(1, 2, 3, 4, 5));
        var other = (byte[])probe.Clone();
        other[10] ^= 0x40;

        Assert.False(H264Probe.TryRead(other, out _));
        for (var cut = 0; cut < 7 + 16 + 32; cut++)
        {
            Assert.False(H264Probe.TryRead(probe.AsSpan(0, cut), out _));
        }
    }

    private static bool IsEscape(ReadOnlySpan<byte> nal, int i) => nal[i + 2] == 3;

    private static int CountNals(byte[] au)
    {
        var count = 0;
        foreach (var nal in AnnexB.EnumerateNalUnits(au))
        {
            _ = nal;
            count++;
        }

        return count;
    }
}
