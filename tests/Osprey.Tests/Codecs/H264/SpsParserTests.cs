using Osprey.Codecs.H264;

namespace Osprey.Tests.Codecs.H264;

public class SpsParserTests
{
    [Trait("Needs", "Ffmpeg")]
    [Theory]
    [InlineData("baseline", 66, 0xC0)]
    [InlineData("main", 77, 0x40)]
    [InlineData("high", 100, 0x00)]
    public void EncoderOutput_ParsesProfileLevelSizeChromaAndFrameRate(string profile, int profileIdc, int constraints)
    {
        var sps = FirstNal(FfmpegH264.Encode(320, 240, profile), NalUnitType.Sps);

        Assert.True(SpsParser.TryParse(sps, out var info));

        // x264 picks level 1.3 for 320x240 at 30 fps.
        Assert.Equal(new SpsInfo((byte)profileIdc, (byte)constraints, 13, 0, 320, 240, 1, 30.0), info);
        Assert.Equal($"avc1.{profileIdc:x2}{constraints:x2}0d", info.CodecString);
        Assert.Equal(8, info.BitDepthLuma);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void Frame1080p_IsCoded1088High_AndCroppedTo1080()
    {
        var sps = FirstNal(FfmpegH264.Encode(1920, 1080, "high", 1), NalUnitType.Sps);

        Assert.True(SpsParser.TryParse(sps, out var info));

        Assert.Equal((1920, 1080, 40), (info.Width, info.Height, (int)info.LevelIdc));
        Assert.Equal("avc1.640028", info.CodecString);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void InterlacedFrame_CountsMapUnitsAsFieldPairs_AndCropsInUnitsOfFourLines()
    {
        // frame_mbs_only_flag 0: 34 map units of 32 lines = 1088, crop_bottom 2 × (2 × SubHeightC) = 8 lines.
        var sps = FirstNal(FfmpegH264.Encode(1920, 1080, "high", 1, "-flags", "+ildct+ilme"), NalUnitType.Sps);

        Assert.True(SpsParser.TryParse(sps, out var info));

        Assert.Equal((1920, 1080), (info.Width, info.Height));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void HighFourFourFour_CropsInSinglePixels()
    {
        // 322x242 codes 336x256; 4:4:4 has crop units of 1, so x264 crops 14 right and 14 bottom.
        var sps = FirstNal(FfmpegH264.Encode(322, 242, "high444", 1, "-pix_fmt", "yuv444p"), NalUnitType.Sps);

        Assert.True(SpsParser.TryParse(sps, out var info));

        Assert.Equal((244, 3, 322, 242), (info.ProfileIdc, info.ChromaFormatIdc, info.Width, info.Height));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void HighFourTwoTwoTenBit_ReadsChromaFormatAndBitDepths()
    {
        var sps = FirstNal(FfmpegH264.Encode(320, 240, "high422", 1, "-pix_fmt", "yuv422p10le"), NalUnitType.Sps);

        Assert.True(SpsParser.TryParse(sps, out var info));

        Assert.Equal((122, 2, 10, 10, 320, 240), (info.ProfileIdc, info.ChromaFormatIdc, info.BitDepthLuma, info.BitDepthChroma, info.Width, info.Height));
    }

    [Fact]
    public void HandWrittenSps_WithScalingListsPocTypeOneAndEmulationPrevention_Parses()
    {
        var sps = HandWrittenSps(out var expected);

        Assert.True(SpsParser.TryParse(sps, out var info));

        Assert.Equal(expected, info);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void TruncatedSps_IsRejected_AndNoPrefixThrows()
    {
        var sps = FirstNal(FfmpegH264.Encode(320, 240, "high"), NalUnitType.Sps);

        for (var length = 0; length <= sps.Length; length++)
        {
            var parsed = SpsParser.TryParse(sps.AsSpan(0, length), out _);
            // The VUI's timing info ends in byte 19 (after two emulation-prevention bytes): shorter is truncated.
            Assert.Equal(length >= 20, parsed);
        }
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void CorruptSps_IsRejected()
    {
        var sps = FirstNal(FfmpegH264.Encode(320, 240, "high"), NalUnitType.Sps);

        Assert.False(SpsParser.TryParse([0x68, .. sps[1..]], out _)); // a PPS header
        Assert.False(SpsParser.TryParse([0xE7, .. sps[1..]], out _)); // forbidden_zero_bit
        Assert.False(SpsParser.TryParse([0x67, 0x64, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00], out _)); // ue(v) of 40 zeros
        Assert.False(SpsParser.TryParse([0x67, 0x64, 0x00, 0x28, 0x9F], out _)); // chroma_format_idc 30... then cut
        var random = new Random(5);
        var bytes = new byte[64];
        for (var i = 0; i < 20_000; i++)
        {
            random.NextBytes(bytes);
            bytes[0] = 0x67;
            if (SpsParser.TryParse(bytes.AsSpan(0, random.Next(1, 64)), out var info))
            {
                Assert.True(info.Width > 0 && info.Height > 0 && info.SpsId <= 31);
            }
        }
    }

    internal static byte[] FirstNal(byte[] stream, NalUnitType type)
    {
        foreach (var nal in AnnexB.EnumerateNalUnits(stream))
        {
            if (AnnexB.TypeOf(nal) == type)
            {
                return nal.ToArray();
            }
        }

        throw new InvalidOperationException($"No {type} NAL unit.");
    }

    // High profile, level 4.0, sps_id 3, scaling lists, poc type 1, 1280x720 coded 1280x736 with crop, no VUI.
    private static byte[] HandWrittenSps(out SpsInfo expected)
    {
        var w = new BitWriter();
        w.Bits(100, 8).Bits(0, 8).Bits(40, 8).Ue(3);
        w.Ue(1).Ue(0).Ue(0).Bit(0); // chroma 4:2:0, 8-bit, no bypass
        w.Bit(1); // seq_scaling_matrix_present_flag
        for (var i = 0; i < 8; i++)
        {
            w.Bit(i % 3 == 0 ? 1 : 0);
            if (i % 3 == 0)
            {
                // Deltas to a flat 8 and then a 0 (nextScale 0: the rest repeats), plus one full list.
                if (i == 6)
                {
                    for (var j = 0; j < 64; j++)
                    {
                        w.Se(j % 2 == 0 ? 3 : -3);
                    }
                }
                else
                {
                    w.Se(0).Se(-8);
                }
            }
        }

        w.Ue(0); // log2_max_frame_num_minus4
        w.Ue(1).Bit(0).Se(-2).Se(1).Ue(3).Se(4).Se(-4).Se(0); // poc type 1 and its cycle
        w.Ue(4).Bit(0); // max_num_ref_frames, gaps
        w.Ue(79).Ue(45); // 80 x 46 macroblocks
        w.Bit(1).Bit(1); // frame_mbs_only, direct_8x8
        w.Bit(1).Ue(0).Ue(0).Ue(0).Ue(8); // crop bottom 8 × 2 = 16 lines
        w.Bit(0); // no VUI
        w.Bit(1); // rbsp_stop_one_bit
        expected = new SpsInfo(100, 0, 40, 3, 1280, 720, 1, null);
        return [0x67, .. Escape(w.ToArray())];
    }

    private static byte[] Escape(byte[] rbsp)
    {
        var output = new List<byte>();
        var zeros = 0;
        foreach (var b in rbsp)
        {
            if (zeros >= 2 && b <= 3)
            {
                output.Add(3);
                zeros = 0;
            }

            output.Add(b);
            zeros = b == 0 ? zeros + 1 : 0;
        }

        return [.. output];
    }

    private sealed class BitWriter
    {
        private readonly List<byte> _bytes = [];
        private int _bits;

        public BitWriter Bit(int bit)
        {
            if (_bits % 8 == 0)
            {
                _bytes.Add(0);
            }

            _bytes[^1] |= (byte)(bit << (7 - (_bits % 8)));
            _bits++;
            return this;
        }

        public BitWriter Bits(long value, int count)
        {
            for (var i = count - 1; i >= 0; i--)
            {
                Bit((int)((value >> i) & 1));
            }

            return this;
        }

        public BitWriter Ue(long value)
        {
            var code = value + 1;
            var length = 64 - (int)long.LeadingZeroCount(code);
            return Bits(0, length - 1).Bits(code, length);
        }

        public BitWriter Se(long value) => Ue(value > 0 ? (2 * value) - 1 : -2 * value);

        public byte[] ToArray() => [.. _bytes];
    }
}
