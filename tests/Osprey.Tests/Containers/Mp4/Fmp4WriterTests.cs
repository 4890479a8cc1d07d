using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;
using Osprey.Tests.Codecs.H264;

namespace Osprey.Tests.Containers.Mp4;

public class Fmp4WriterTests
{
    // x264's baseline SPS and PPS for 320x240 at 30 fps (two emulation-prevention bytes in the SPS).
    internal static readonly byte[] BaselineSps = [0x67, 0x42, 0xC0, 0x0D, 0xD9, 0x01, 0x41, 0xFB, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x42, 0xA4, 0x80];
    internal static readonly byte[] BaselinePps = [0x68, 0xCB, 0x83, 0xCB, 0x20];

    [Fact]
    public void InitSegment_ForABaselineSpsAndPps_IsByteExact()
    {
        Assert.True(SpsParser.TryParse(BaselineSps, out var info));
        byte[] expected =
        [
            // ftyp (36): major isom, minor 0x200, compatible isom iso2 iso5 avc1 mp41
            0x00, 0x00, 0x00, 0x24, .. "ftyp"u8, .. "isom"u8, 0x00, 0x00, 0x02, 0x00, .. "isomiso2iso5avc1mp41"u8,
            // moov (631 = 8 + 108 + 475 + 40)
            0x00, 0x00, 0x02, 0x77, .. "moov"u8,
            //   mvhd (108) v0: times, timescale 1000, duration 0, rate 1.0, volume 1.0, reserved, matrix, pre_defined, next_track_ID 2
            0x00, 0x00, 0x00, 0x6C, .. "mvhd"u8, 0x00, 0x00, 0x00, 0x00,
            .. new byte[8], 0x00, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, .. new byte[10],
            0x00, 0x01, 0x00, 0x00, .. new byte[12], 0x00, 0x01, 0x00, 0x00, .. new byte[12], 0x40, 0x00, 0x00, 0x00,
            .. new byte[24], 0x00, 0x00, 0x00, 0x02,
            //   trak (475 = 8 + 92 + 375)
            0x00, 0x00, 0x01, 0xDB, .. "trak"u8,
            //     tkhd (92) v0 flags 3: times, track_ID 1, reserved, duration 0, reserved, layer/group/volume/reserved, matrix, 320.0 x 240.0
            0x00, 0x00, 0x00, 0x5C, .. "tkhd"u8, 0x00, 0x00, 0x00, 0x03,
            .. new byte[8], 0x00, 0x00, 0x00, 0x01, .. new byte[4], .. new byte[4], .. new byte[8], .. new byte[8],
            0x00, 0x01, 0x00, 0x00, .. new byte[12], 0x00, 0x01, 0x00, 0x00, .. new byte[12], 0x40, 0x00, 0x00, 0x00,
            0x01, 0x40, 0x00, 0x00, 0x00, 0xF0, 0x00, 0x00,
            //     mdia (375 = 8 + 32 + 45 + 290)
            0x00, 0x00, 0x01, 0x77, .. "mdia"u8,
            //       mdhd (32) v0: times, timescale 90000, duration 0, language und, pre_defined
            0x00, 0x00, 0x00, 0x20, .. "mdhd"u8, 0x00, 0x00, 0x00, 0x00,
            .. new byte[8], 0x00, 0x01, 0x5F, 0x90, 0x00, 0x00, 0x00, 0x00, 0x55, 0xC4, 0x00, 0x00,
            //       hdlr (45): pre_defined, 'vide', reserved, "VideoHandler\0"
            0x00, 0x00, 0x00, 0x2D, .. "hdlr"u8, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, .. "vide"u8, .. new byte[12], .. "VideoHandler"u8, 0x00,
            //       minf (290 = 8 + 20 + 36 + 226)
            0x00, 0x00, 0x01, 0x22, .. "minf"u8,
            //         vmhd (20) flags 1
            0x00, 0x00, 0x00, 0x14, .. "vmhd"u8, 0x00, 0x00, 0x00, 0x01, .. new byte[8],
            //         dinf (36) > dref (28) entry_count 1 > 'url ' (12) flags 1
            0x00, 0x00, 0x00, 0x24, .. "dinf"u8,
            0x00, 0x00, 0x00, 0x1C, .. "dref"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x0C, .. "url "u8, 0x00, 0x00, 0x00, 0x01,
            //         stbl (226 = 8 + 150 + 16 + 16 + 20 + 16)
            0x00, 0x00, 0x00, 0xE2, .. "stbl"u8,
            //           stsd (150) entry_count 1
            0x00, 0x00, 0x00, 0x96, .. "stsd"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            //             avc1 (134 = 86 + 48): reserved, data_reference_index 1, pre_defined/reserved, 320 x 240,
            //             72 dpi x 2, reserved, frame_count 1, compressorname (32), depth 0x18, pre_defined -1
            0x00, 0x00, 0x00, 0x86, .. "avc1"u8, .. new byte[6], 0x00, 0x01, .. new byte[16],
            0x01, 0x40, 0x00, 0xF0, 0x00, 0x48, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            .. new byte[32], 0x00, 0x18, 0xFF, 0xFF,
            //               avcC (48 = 19 + 24 + 5): version 1, 42 C0 0D from the SPS, FF (4-byte lengths), E1 (1 SPS),
            //               SPS length 24 + SPS, 1 PPS, length 5 + PPS; baseline: no chroma/bit-depth tail
            0x00, 0x00, 0x00, 0x30, .. "avcC"u8, 0x01, 0x42, 0xC0, 0x0D, 0xFF, 0xE1,
            0x00, 0x18, .. BaselineSps, 0x01, 0x00, 0x05, .. BaselinePps,
            //           stts (16), stsc (16), stsz (20), stco (16): empty
            0x00, 0x00, 0x00, 0x10, .. "stts"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x10, .. "stsc"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x14, .. "stsz"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x10, .. "stco"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            //   mvex (40) > trex (32): track 1, description 1, duration 0, size 0, flags 0
            0x00, 0x00, 0x00, 0x28, .. "mvex"u8,
            0x00, 0x00, 0x00, 0x20, .. "trex"u8, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        Assert.Equal(667, expected.Length);

        var size = Fmp4Writer.GetInitSegmentSize(BaselineSps, BaselinePps);
        var actual = new byte[size + 16];
        var written = Fmp4Writer.WriteInitSegment(actual, BaselineSps, BaselinePps, info);

        Assert.Equal(expected.Length, size);
        Assert.Equal(size, written);
        Assert.Equal(expected, actual[..written]);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void InitSegment_ForAHighProfileSps_EndsAvcCWithChromaFormatAndBitDepths()
    {
        var stream = FfmpegH264.Encode(320, 240, "high422", 1, "-pix_fmt", "yuv422p10le");
        var sps = First(stream, NalUnitType.Sps);
        var pps = First(stream, NalUnitType.Pps);
        Assert.True(SpsParser.TryParse(sps, out var info));
        var init = new byte[Fmp4Writer.GetInitSegmentSize(sps, pps)];

        var written = Fmp4Writer.WriteInitSegment(init, sps, pps, info);

        Assert.Equal(638 + sps.Length + pps.Length + 4, written);
        var avcC = init.AsSpan().IndexOf("avcC"u8) - 4;
        Assert.Equal(19 + sps.Length + pps.Length + 4, (init[avcC + 2] << 8) | init[avcC + 3]);
        // 14496-15: reserved '111111'b + chroma_format 2, '11111'b + luma depth - 8, '11111'b + chroma depth - 8, 0 SPS ext.
        Assert.Equal([0xFE, 0xFA, 0xFA, 0x00], init[(avcC + 19 + sps.Length + pps.Length)..(avcC + 23 + sps.Length + pps.Length)]);
        Assert.Equal(written, avcC + 23 + sps.Length + pps.Length + 16 + 16 + 20 + 16 + 40);
    }

    [Fact]
    public void MediaSegment_ForASmallAccessUnit_IsByteExact_WithoutAudSpsPps()
    {
        byte[] au =
        [
            0, 0, 0, 1, 0x09, 0xF0, // AUD: left out
            0, 0, 0, 1, .. BaselineSps, // SPS: in avcC
            0, 0, 1, .. BaselinePps, // PPS: in avcC
            0, 0, 1, 0x06, 0xAA, 0x80, // SEI: kept
            0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xFF, 0, 0, // IDR slice: kept, trailing zeros trimmed
        ];
        byte[] expected =
        [
            // moof (100)
            0x00, 0x00, 0x00, 0x64, .. "moof"u8,
            //   mfhd (16): sequence_number 7
            0x00, 0x00, 0x00, 0x10, .. "mfhd"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
            //   traf (76)
            0x00, 0x00, 0x00, 0x4C, .. "traf"u8,
            //     tfhd (16) flags 0x020000 default-base-is-moof, track_ID 1
            0x00, 0x00, 0x00, 0x10, .. "tfhd"u8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            //     tfdt (20) v1: baseMediaDecodeTime 0x123456789
            0x00, 0x00, 0x00, 0x14, .. "tfdt"u8, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89,
            //     trun (32) flags 0x000701: 1 sample, data_offset 108, duration 3000, size 17, flags sync
            0x00, 0x00, 0x00, 0x20, .. "trun"u8, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x6C, 0x00, 0x00, 0x0B, 0xB8, 0x00, 0x00, 0x00, 0x11, 0x02, 0x00, 0x00, 0x00,
            // mdat (25): SEI (3) and IDR (6), each behind a 4-byte length
            0x00, 0x00, 0x00, 0x19, .. "mdat"u8,
            0x00, 0x00, 0x00, 0x03, 0x06, 0xAA, 0x80,
            0x00, 0x00, 0x00, 0x06, 0x65, 0x88, 0x84, 0x00, 0x33, 0xFF,
        ];

        var size = Fmp4Writer.GetMediaSegmentSize(au);
        var actual = new byte[size];
        var written = Fmp4Writer.WriteMediaSegment(actual, au, 7, 0x123456789, 3000, isKeyFrame: true);

        Assert.Equal(expected.Length, size);
        Assert.Equal(size, written);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void MediaSegment_OfANonKeyFrame_IsFlaggedNonSyncAndDependent()
    {
        byte[] au = [0, 0, 0, 1, 0x41, 0x9A, 0x11];
        var segment = new byte[Fmp4Writer.GetMediaSegmentSize(au)];

        Fmp4Writer.WriteMediaSegment(segment, au, 2, 3000, 3000, isKeyFrame: false);

        Assert.Equal([0x01, 0x01, 0x00, 0x00], segment[96..100]);
        Assert.Equal(100 + 8 + 4 + 3, segment.Length);
    }

    [Fact]
    public void TooSmallADestination_Throws_AndBadParameterSetsAreRejected()
    {
        byte[] au = [0, 0, 0, 1, 0x41, 0x9A, 0x11];
        Assert.True(SpsParser.TryParse(BaselineSps, out var info));

        Assert.Throws<ArgumentOutOfRangeException>(() => Fmp4Writer.WriteMediaSegment(new byte[114], au, 1, 0, 1, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Fmp4Writer.WriteInitSegment(new byte[666], BaselineSps, BaselinePps, info));
        Assert.Throws<ArgumentException>(() => Fmp4Writer.GetInitSegmentSize(BaselinePps, BaselinePps));
        Assert.Throws<ArgumentException>(() => Fmp4Writer.GetInitSegmentSize(BaselineSps, []));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void MaxMediaSegmentSize_BoundsTheExactSize_EvenForTinyNalUnitsBehindThreeByteStartCodes()
    {
        byte[] tiny = [.. Enumerable.Range(0, 50).SelectMany(_ => new byte[] { 0, 0, 1, 0x41 })];
        var real = FfmpegH264.Encode(320, 240, "main");

        foreach (var au in new[] { tiny, real, [] })
        {
            var exact = Fmp4Writer.GetMediaSegmentSize(au);
            var max = Fmp4Writer.GetMaxMediaSegmentSize(au.Length);
            Assert.True(exact <= max, $"{exact} > {max}");
            var segment = new byte[max];
            Assert.Equal(exact, Fmp4Writer.WriteMediaSegment(segment, au, 1, 0, 1, false));
        }

        Assert.Equal(108 + 250, Fmp4Writer.GetMediaSegmentSize(tiny));
    }

    internal static byte[] First(byte[] stream, NalUnitType type)
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
}
