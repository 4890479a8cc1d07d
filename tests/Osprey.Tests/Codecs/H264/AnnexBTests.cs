using Osprey.Codecs.H264;

namespace Osprey.Tests.Codecs.H264;

public class AnnexBTests
{
    [Fact]
    public void ThreeAndFourByteStartCodes_BothSeparateNalUnits_WithTheStartCodesRemoved()
    {
        byte[] stream = [0, 0, 0, 1, 0x67, 0x42, 0xC0, 0, 0, 1, 0x68, 0xCB, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 1, 0x41, 0x9A];

        Assert.Equal(
            [[0x67, 0x42, 0xC0], [0x68, 0xCB], [0x65, 0x88, 0x84], [0x41, 0x9A]],
            Nals(stream));
    }

    [Fact]
    public void BytesBeforeTheFirstStartCode_AreSkipped()
    {
        byte[] stream = [0xFF, 0x12, 0x00, 0x01, 0x00, 0x00, 0x02, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x65, 0x11];

        Assert.Equal([[0x09, 0xF0], [0x65, 0x11]], Nals(stream));
    }

    [Fact]
    public void TrailingZeroBytes_AreTrimmedFromEveryNalUnit_EvenWhenTheyLookLikeLongStartCodes()
    {
        // trailing_zero_8bits after NAL units, and a 6-byte "start code" (leading zeros are legal in Annex B).
        byte[] stream = [0, 0, 1, 0x67, 0x42, 0, 0, 0, 0, 0, 0, 1, 0x68, 0xCB, 0, 0, 0, 0, 1, 0x65, 0x88, 0, 0, 0];

        Assert.Equal([[0x67, 0x42], [0x68, 0xCB], [0x65, 0x88]], Nals(stream));
    }

    [Fact]
    public void EmulationPreventedBytes_DoNotSplitANalUnit()
    {
        // 00 00 03 01 inside a NAL is escaped data, not a start code.
        byte[] stream = [0, 0, 0, 1, 0x67, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x42];

        Assert.Equal([[0x67, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x42]], Nals(stream));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x67, 0x42, 0xC0, 0x0D })]
    [InlineData(new byte[] { 0x00, 0x00, 0x00, 0x00 })]
    [InlineData(new byte[] { 0x00, 0x00, 0x02, 0x65, 0x00, 0x01 })]
    public void InputWithoutAStartCode_YieldsNoNalUnit(byte[] stream)
    {
        Assert.Empty(Nals(stream));
        Assert.False(AnnexB.ContainsIdr(stream));
    }

    [Fact]
    public void EmptyNalUnitsBetweenStartCodes_AreSkipped()
    {
        byte[] stream = [0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1];

        Assert.Equal([[0x09, 0xF0]], Nals(stream));
    }

    [Fact]
    public void TruncatedInput_YieldsTheCutNalUnitAsItIs()
    {
        byte[] stream = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88, 0x84, 0x21];

        for (var cut = 0; cut <= stream.Length; cut++)
        {
            var nals = Nals(stream[..cut]);
            byte[][] expected = cut switch
            {
                < 5 => [],
                < 9 => [stream[4..Math.Min(6, cut)]],
                9 => [[0x67, 0x42]],
                _ => [[0x67, 0x42], stream[9..cut]],
            };
            Assert.Equal(expected, nals);
        }
    }

    [Fact]
    public void TypeOf_IsTheLowFiveBitsOfTheHeader_AndUnspecifiedForAnEmptyNal()
    {
        Assert.Equal(NalUnitType.Idr, AnnexB.TypeOf([0x65]));
        Assert.Equal(NalUnitType.Sps, AnnexB.TypeOf([0x67, 0x42]));
        Assert.Equal(NalUnitType.Slice, AnnexB.TypeOf([0x41]));
        Assert.Equal(NalUnitType.Sei, AnnexB.TypeOf([0x06]));
        Assert.Equal(NalUnitType.Unspecified, AnnexB.TypeOf([]));
    }

    [Fact]
    public void ContainsIdr_FindsTheIdrSliceBehindParameterSets_AndNotInPSlices()
    {
        Assert.True(AnnexB.ContainsIdr([0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCB, 0, 0, 1, 0x65, 0x88]));
        Assert.False(AnnexB.ContainsIdr([0, 0, 0, 1, 0x41, 0x9A, 0, 0, 1, 0x41, 0x1A]));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void RealEncoderOutput_SplitsIntoSpsPpsSeiAndThirtySlices()
    {
        var stream = FfmpegH264.Encode(320, 240, "high");

        var types = new List<NalUnitType>();
        foreach (var nal in AnnexB.EnumerateNalUnits(stream))
        {
            types.Add(AnnexB.TypeOf(nal));
        }

        Assert.Equal([NalUnitType.Sps, NalUnitType.Pps, NalUnitType.Sei, NalUnitType.Idr], types[..4]);
        Assert.Equal(30, types.Count(t => t is NalUnitType.Idr or NalUnitType.Slice));
        Assert.Equal(3, types.Count(t => t == NalUnitType.Idr));
    }

    [Fact]
    public void VectorisedStartCodeSearch_AgreesWithAPlainSearch_AtEveryPositionAndLength()
    {
        var random = new Random(9);
        ReadOnlySpan<byte> startCode = [0, 0, 1];
        for (var length = 0; length <= 200; length++)
        {
            var data = new byte[length];
            for (var at = -1; at <= length - 3; at++)
            {
                random.NextBytes(data);
                // Plenty of zeros and ones, and near misses (00 00 02, 00 01 01) around the planted start code.
                for (var i = 0; i < length; i++)
                {
                    data[i] = data[i] < 64 ? (byte)0 : data[i] < 96 ? (byte)1 : data[i] < 100 ? (byte)2 : data[i];
                }

                if (at >= 0)
                {
                    data[at] = 0;
                    data[at + 1] = 0;
                    data[at + 2] = 1;
                }

                Assert.Equal(data.AsSpan().IndexOf(startCode), AnnexB.IndexOfStartCode(data));
            }
        }
    }

    private static List<byte[]> Nals(byte[] stream)
    {
        var nals = new List<byte[]>();
        foreach (var nal in AnnexB.EnumerateNalUnits(stream))
        {
            nals.Add(nal.ToArray());
        }

        return nals;
    }

    [Fact]
    public void ContainsIdr_IsTrueForAnIdrPicture_AndStopsAtAFirstNonIdrSlice()
    {
        Assert.True(AnnexB.ContainsIdr([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9]));
        Assert.False(AnnexB.ContainsIdr([0, 0, 0, 1, 0x09, 0x10, 0, 0, 1, 0x41, 9, 9]));
    }
}
