using System.Buffers.Binary;
using Osprey.Protocols.Rtp;

namespace Osprey.Tests.Protocols.Rtp;

public class H264PacketizerTests
{
    private static readonly byte[] s_sps = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xF0, 0x3C, 0x58, 0xBA, 0x80];
    private static readonly byte[] s_pps = [0x68, 0xCE, 0x0F, 0x2C, 0x80];

    private static byte[] Nal(byte header, int length)
    {
        var nal = new byte[length];
        nal[0] = header;
        for (var i = 1; i < length; i++)
        {
            nal[i] = (byte)((i % 251) + 1); // never 00: no start code inside
        }

        return nal;
    }

    private static byte[] AnnexB(params byte[][] nals) => [.. nals.SelectMany(n => (byte[])[0, 0, 0, 1, .. n])];

    private static List<byte[]> Packetize(H264Packetizer packetizer, byte[] accessUnit, uint timestamp, bool key)
    {
        var buffer = new byte[packetizer.MeasureRun(accessUnit)];
        var written = packetizer.Packetize(accessUnit, timestamp, key, buffer, out var count);
        var packets = new List<byte[]>();
        foreach (var packet in new RtpPacketRun(buffer.AsSpan(0, written)))
        {
            packets.Add(packet.ToArray());
        }

        Assert.Equal(count, packets.Count);
        return packets;
    }

    /// <summary>What a receiver reassembles from the packets: the NAL units in order (RFC 6184 depacketization).</summary>
    private static List<byte[]> Depacketize(List<byte[]> packets)
    {
        var nals = new List<byte[]>();
        List<byte>? fragment = null;
        foreach (var packet in packets)
        {
            var payload = packet.AsSpan(12);
            var type = payload[0] & 0x1F;
            if (type == 24)
            {
                for (var offset = 1; offset < payload.Length;)
                {
                    var size = BinaryPrimitives.ReadUInt16BigEndian(payload[offset..]);
                    nals.Add(payload.Slice(offset + 2, size).ToArray());
                    offset += 2 + size;
                }
            }
            else if (type == 28)
            {
                var start = (payload[1] & 0x80) != 0;
                var end = (payload[1] & 0x40) != 0;
                if (start)
                {
                    fragment = [(byte)((payload[0] & 0xE0) | (payload[1] & 0x1F))];
                }

                Assert.NotNull(fragment);
                fragment!.AddRange(payload[2..].ToArray());
                if (end)
                {
                    nals.Add([.. fragment]);
                    fragment = null;
                }
            }
            else
            {
                nals.Add(payload.ToArray());
            }
        }

        Assert.Null(fragment);
        return nals;
    }

    [Theory]
    [InlineData(100)]
    [InlineData(1187)]
    [InlineData(1188)] // exactly the payload that fits: one single NAL unit packet of 1200 bytes
    [InlineData(1189)] // one byte more: FU-A
    [InlineData(2373)]
    [InlineData(2374)]
    [InlineData(50000)]
    public void SliceSizesAroundTheMtu_FitAndReassemble(int sliceLength)
    {
        var packetizer = new H264Packetizer(0x1234, 1000);
        var slice = Nal(0x41, sliceLength);
        var packets = Packetize(packetizer, AnnexB(slice), 9000, key: false);

        Assert.All(packets, p => Assert.True(p.Length <= 1200, $"{p.Length} bytes"));
        Assert.Equal(sliceLength <= 1188 ? 1 : (sliceLength - 1 + 1185) / 1186, packets.Count);
        Assert.Equal(slice, Assert.Single(Depacketize(packets)));
        for (var i = 0; i < packets.Count; i++)
        {
            Assert.Equal(0x80, packets[i][0]);
            Assert.Equal(i == packets.Count - 1, (packets[i][1] & 0x80) != 0); // marker on the last only
            Assert.Equal((ushort)(1000 + i), BinaryPrimitives.ReadUInt16BigEndian(packets[i].AsSpan(2)));
            Assert.Equal(9000u, BinaryPrimitives.ReadUInt32BigEndian(packets[i].AsSpan(4)));
            Assert.Equal(0x1234u, BinaryPrimitives.ReadUInt32BigEndian(packets[i].AsSpan(8)));
        }

        if (packets.Count > 1)
        {
            Assert.Equal(0x80, packets[0][13] & 0xC0); // FU-A start bit
            Assert.Equal(0x40, packets[^1][13] & 0xC0); // end bit
            Assert.All(packets.Skip(1).SkipLast(1), p => Assert.Equal(0, p[13] & 0xC0));
            Assert.All(packets, p => Assert.Equal(0x41 & 0xE0 | 28, p[12])); // NRI kept in the indicator
        }
    }

    [Fact]
    public void IdrFrame_GetsSpsAndPpsAsOneStapAFirst_AndTheAudIsDropped()
    {
        var packetizer = new H264Packetizer(1, 0);
        var aud = new byte[] { 0x09, 0xF0 };
        var sei = Nal(0x06, 30);
        var idr = Nal(0x65, 3000);
        var packets = Packetize(packetizer, AnnexB(aud, s_sps, s_pps, sei, idr), 0, key: true);

        Assert.Equal(24, packets[0][12] & 0x1F); // STAP-A
        var nals = Depacketize(packets);
        Assert.Equal([s_sps, s_pps, sei, idr], nals);
    }

    [Fact]
    public void IdrWithoutParameterSets_GetsTheLatestOnes_AndPFramesGetNone()
    {
        var packetizer = new H264Packetizer(1, 0);
        Packetize(packetizer, AnnexB(s_sps, s_pps, Nal(0x65, 500)), 0, key: true);
        var p = Packetize(packetizer, AnnexB(Nal(0x41, 500)), 3000, key: false);
        Assert.Single(p);
        var idr = Nal(0x65, 500);
        var again = Depacketize(Packetize(packetizer, AnnexB(idr), 6000, key: true));
        Assert.Equal([s_sps, s_pps, idr], again);
    }

    [Fact]
    public void SequenceNumbers_RunOnAcrossAccessUnitsAndWrap()
    {
        var packetizer = new H264Packetizer(1, 65534);
        var first = Packetize(packetizer, AnnexB(Nal(0x41, 3000)), 0, key: false);
        var second = Packetize(packetizer, AnnexB(Nal(0x41, 10)), 3000, key: false);
        Assert.Equal([65534, 65535, 0], first.Select(p => (int)BinaryPrimitives.ReadUInt16BigEndian(p.AsSpan(2))));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(second[0].AsSpan(2)));
    }

    [Fact]
    public void GarbageAndEmptyAccessUnits_WriteAtMostWhatWasMeasured()
    {
        var random = new Random(6184);
        var packetizer = new H264Packetizer(1, 0);
        Assert.Empty(Packetize(packetizer, [], 0, key: false));
        Assert.Empty(Packetize(packetizer, [1, 2, 3], 0, key: false));
        for (var i = 0; i < 500; i++)
        {
            var garbage = new byte[random.Next(1, 20000)];
            random.NextBytes(garbage);
            if (i % 2 == 0)
            {
                // Plenty of start codes: many tiny NAL units.
                for (var k = 0; k + 3 < garbage.Length; k += random.Next(3, 40))
                {
                    garbage[k] = 0;
                    garbage[k + 1] = 0;
                    garbage[k + 2] = 1;
                }
            }

            var packets = Packetize(packetizer, garbage, (uint)i, key: i % 3 == 0);
            Assert.All(packets, p => Assert.True(p.Length <= 1200));
        }
    }

    [Fact]
    public void RunReader_StopsAtALengthPastTheEnd()
    {
        Assert.Equal(0, RtpPacketRun.Count([0xFF, 0xFF, 1, 2]));
        Assert.Equal(1, RtpPacketRun.Count([0, 1, 7, 0xFF]));
        Assert.Equal(0, RtpPacketRun.Count([0]));
    }
}
