using System.Buffers.Binary;
using Osprey.Containers.Mp4;

namespace Osprey.Tests.Containers.Mp4;

public class BerryMseWriterTests
{
    private static readonly byte[] s_sps = Fmp4WriterTests.BaselineSps;
    private static readonly byte[] s_pps = Fmp4WriterTests.BaselinePps;

    [Fact]
    public void MediaSegment_HasBerryMsesOffsets_TrunAt76_SyncByteAt92_DataOffset112_AndIsByteExact()
    {
        byte[] idr = [0x65, 0x88, 0x84, 0x21];
        byte[] expected =
        [
            // moof (104)
            0x00, 0x00, 0x00, 0x68, .. "moof"u8,
            //   mfhd (16) at 8: sequence_number 1
            0x00, 0x00, 0x00, 0x10, .. "mfhd"u8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            //   traf (80) at 24
            0x00, 0x00, 0x00, 0x50, .. "traf"u8,
            //     tfhd (20) at 32: flags 0x020020, track 1, default_sample_flags 0x01010000
            0x00, 0x00, 0x00, 0x14, .. "tfhd"u8, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00,
            //     tfdt (20) at 52: version 1, baseMediaDecodeTime 330
            0x00, 0x00, 0x00, 0x14, .. "tfdt"u8, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x4A,
            //     trun (32) at 72: flags 0x000305, 1 sample, data_offset 112, first_sample_flags 0x02000000, duration 330, size 8
            0x00, 0x00, 0x00, 0x20, .. "trun"u8, 0x00, 0x00, 0x03, 0x05, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x70, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x4A, 0x00, 0x00, 0x00, 0x08,
            // mdat (16) at 104: length 4, the NAL
            0x00, 0x00, 0x00, 0x10, .. "mdat"u8, 0x00, 0x00, 0x00, 0x04, .. idr,
        ];

        var segment = new byte[BerryMseWriter.GetMediaSegmentSize(idr)];
        var written = BerryMseWriter.WriteMediaSegment(segment, idr, 1, 330, 330, isIdr: true);

        Assert.Equal(104 + 8 + 4 + idr.Length, written);
        Assert.Equal(expected, segment);
        Assert.Equal(104, BerryMseWriter.MoofSize);
        Assert.Equal("trun"u8.ToArray(), segment[76..80]);
        Assert.Equal(0x02, segment[92]);
        Assert.Equal(112u, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(88)));
        Assert.Equal(0x020020u, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(40)));
        Assert.Equal(0x000305u, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(80)));
    }

    [Fact]
    public void MediaSegment_OfANonIdrSlice_HasOneAtByte92()
    {
        var slice = new byte[5000];
        slice[0] = 0x41;
        var segment = new byte[BerryMseWriter.GetMediaSegmentSize(slice)];

        BerryMseWriter.WriteMediaSegment(segment, slice, 9, 330 * 9, 330, isIdr: false);

        Assert.Equal(0x01, segment[92]);
        Assert.Equal([0x01, 0x01, 0x00, 0x00], segment[92..96]);
        Assert.Equal("trun"u8.ToArray(), segment[76..80]);
        Assert.Equal(5004u, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(100)));
        Assert.Equal(5000u, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(112)));
        Assert.Equal(slice, segment[116..]);
    }

    [Fact]
    public void InitSegment_HasBerryMsesBoxesSizesAndFields()
    {
        var init = new byte[BerryMseWriter.GetInitSegmentSize(s_sps, s_pps)];

        var written = BerryMseWriter.WriteInitSegment(init, s_sps, s_pps, 1280, 720);

        Assert.Equal(664 + s_sps.Length + s_pps.Length, written);
        Assert.Equal(
            [
                ("ftyp", 36), ("moov", 657), ("moov/mvhd", 108), ("moov/trak", 485), ("moov/trak/tkhd", 92),
                ("moov/trak/mdia", 385), ("moov/trak/mdia/mdhd", 32), ("moov/trak/mdia/hdlr", 55),
                ("moov/trak/mdia/minf", 290), ("moov/trak/mdia/minf/vmhd", 20), ("moov/trak/mdia/minf/dinf", 36),
                ("moov/trak/mdia/minf/stbl", 226), ("moov/trak/mdia/minf/stbl/stsd", 150),
                ("moov/trak/mdia/minf/stbl/stsd/avc1", 134), ("moov/trak/mdia/minf/stbl/stsd/avc1/avcC", 48),
                ("moov/trak/mdia/minf/stbl/stsz", 20), ("moov/trak/mdia/minf/stbl/stsc", 16),
                ("moov/trak/mdia/minf/stbl/stts", 16), ("moov/trak/mdia/minf/stbl/stco", 16),
                ("moov/mvex", 56), ("moov/mvex/mehd", 16), ("moov/mvex/trex", 32),
            ],
            Boxes(init));

        Assert.Equal("isom"u8.ToArray(), init[8..12]);
        Assert.Equal(0x200u, U32(init, 12));
        Assert.Equal("isomiso2iso5avc1mp41"u8.ToArray(), init[16..36]);
        var mvhd = Find(init, "mvhd");
        Assert.Equal(1000u, U32(init, mvhd + 20));
        Assert.Equal(0xFFFFFFFFu, U32(init, mvhd + 104));
        var tkhd = Find(init, "tkhd");
        Assert.Equal(7u, U32(init, tkhd + 8));
        Assert.Equal((1280u << 16, 720u << 16), (U32(init, tkhd + 84), U32(init, tkhd + 88)));
        var mdhd = Find(init, "mdhd");
        Assert.Equal(10000u, U32(init, mdhd + 20));
        Assert.Equal(0x55C4u, U32(init, mdhd + 28) >> 16);
        Assert.Equal("MicroMSE Video Handler\0"u8.ToArray(), init[(Find(init, "hdlr") + 32)..(Find(init, "hdlr") + 55)]);
        var avc1 = Find(init, "avc1");
        Assert.Equal((1280u << 16) | 720u, U32(init, avc1 + 32));
        var avcC = Find(init, "avcC");
        Assert.Equal([0x01, s_sps[1], s_sps[2], s_sps[3], 0xFF, 0xE1, 0x00, (byte)s_sps.Length], init[(avcC + 8)..(avcC + 16)]);
        Assert.Equal([0x01, 0x00, (byte)s_pps.Length, .. s_pps], init[(avcC + 16 + s_sps.Length)..(avcC + 48)]);
        // The page builds the codec string from avcC + 5 .. + 7 (after the box header and version).
        Assert.Equal("avc1.42c00d", "avc1." + Convert.ToHexStringLower(init, avcC + 9, 3));
        var trex = Find(init, "trex");
        Assert.Equal([1u, 1u, 0u, 0u, 0x00010000u], Enumerable.Range(0, 5).Select(i => U32(init, trex + 12 + (4 * i))));
    }

    [Fact]
    public void InitSegment_IsNotMistakenForAMediaSegmentByThePage()
    {
        var init = new byte[BerryMseWriter.GetInitSegmentSize(s_sps, s_pps)];
        BerryMseWriter.WriteInitSegment(init, s_sps, s_pps, 320, 240);

        Assert.NotEqual("trun"u8.ToArray(), init[76..80]);
    }

    private static uint U32(byte[] data, int offset) => BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(offset));

    // After ftyp, whose compatible brands include "avc1".
    private static int Find(byte[] data, string type) => 36 + data.AsSpan(36).IndexOf(System.Text.Encoding.ASCII.GetBytes(type)) - 4;

    /// <summary>The box tree as (path, size), walking containers; stsd and avc1 have fields before their children.</summary>
    internal static List<(string Path, int Size)> Boxes(ReadOnlySpan<byte> data, string parent = "")
    {
        var boxes = new List<(string, int)>();
        while (data.Length >= 8)
        {
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
            var type = System.Text.Encoding.ASCII.GetString(data.Slice(4, 4));
            var path = parent.Length == 0 ? type : parent + "/" + type;
            boxes.Add((path, size));
            var skip = type switch
            {
                "moov" or "trak" or "mdia" or "minf" or "stbl" or "mvex" or "moof" or "traf" => 8,
                "stsd" => 16,
                "avc1" => 86,
                _ => -1,
            };
            if (skip > 0)
            {
                boxes.AddRange(Boxes(data[skip..size], path));
            }

            data = data[size..];
        }

        Assert.True(data.IsEmpty);
        return boxes;
    }
}
