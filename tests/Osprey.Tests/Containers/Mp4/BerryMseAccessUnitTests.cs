using System.Buffers.Binary;
using Osprey.Containers.Mp4;

namespace Osprey.Tests.Containers.Mp4;

public class BerryMseAccessUnitTests
{
    private static readonly byte[] s_idrSlice = [0x65, 0x88, 0x84, 0x00, 0x11, 0x22];
    private static readonly byte[] s_secondSlice = [0x65, 0x00, 0x4B, 0x33];

    [Fact]
    public void ASingleSliceAccessUnit_IsWrittenByteForByteAsBerryMseWritesOneNal()
    {
        byte[] accessUnit = [0, 0, 0, 1, 0x67, 0x42, 0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, .. s_idrSlice];
        var expected = new byte[BerryMseWriter.GetMediaSegmentSize(s_idrSlice)];
        BerryMseWriter.WriteMediaSegment(expected, s_idrSlice, 7, 2310, 330, isIdr: true);
        var actual = new byte[BerryMseWriter.GetAccessUnitSegmentSize(accessUnit)];
        Assert.Equal(expected.Length, BerryMseWriter.WriteAccessUnitSegment(actual, accessUnit, 7, 2310, 330, isIdr: true));
        Assert.Equal(expected, actual); // SPS and PPS stay in the init segment, as BerryMSE does
    }

    [Fact]
    public void AMultiSliceAccessUnit_KeepsItsSlicesInOneSample_BehindTheSame104ByteMoof()
    {
        byte[] accessUnit = [0, 0, 0, 1, .. s_idrSlice, 0, 0, 1, .. s_secondSlice];
        var segment = new byte[BerryMseWriter.GetAccessUnitSegmentSize(accessUnit)];
        var written = BerryMseWriter.WriteAccessUnitSegment(segment, accessUnit, 1, 330, 330, isIdr: true);
        Assert.Equal(104 + 8 + 4 + s_idrSlice.Length + 4 + s_secondSlice.Length, written);
        Assert.Equal("trun"u8.ToArray(), segment[76..80]);
        Assert.Equal(2, segment[92]);
        Assert.Equal((uint)(written - 112), BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(100))); // sample size
        Assert.Equal((uint)s_idrSlice.Length, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(112)));
        Assert.Equal(s_idrSlice, segment[116..(116 + s_idrSlice.Length)]);
        Assert.Equal((uint)s_secondSlice.Length, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(116 + s_idrSlice.Length)));
    }
}
