using System.Buffers.Binary;
using Osprey.Protocols.Rtp;

namespace Osprey.Tests.Protocols.Rtp;

public class RtcpTests
{
    [Fact]
    public void SenderReport_IsAnSrAndSdesCompound()
    {
        var cname = Rtcp.Cname("osprey");
        var buffer = new byte[Rtcp.SenderReportSize(cname.Length)];
        var written = Rtcp.WriteSenderReport(buffer, 0xAABBCCDD, 0x0102030405060708, 90000, 10, 12000, cname);
        Assert.Equal(buffer.Length, written);
        Assert.Equal(0, written % 4);

        var types = new List<byte>();
        var packets = Rtcp.Enumerate(buffer);
        foreach (var packet in packets)
        {
            types.Add(packet.Type);
            Assert.Equal(0xAABBCCDDu, packet.SenderSsrc);
        }

        Assert.Equal([Rtcp.SenderReport, Rtcp.SourceDescription], types);
        Assert.Equal(0x0102030405060708UL, BinaryPrimitives.ReadUInt64BigEndian(buffer.AsSpan(8)));
        Assert.Equal(90000u, BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(16)));
        Assert.Equal("osprey"u8.ToArray(), buffer.AsSpan(38, 6).ToArray());
    }

    [Fact]
    public void NackPliAndFir_AreRecognised_AndNackMasksExpand()
    {
        var buffer = new byte[64];
        var length = Rtcp.WriteNack(buffer, 1, 2, 100, 0b1000_0000_0000_0101);
        length += Rtcp.WritePictureLossIndication(buffer.AsSpan(length), 1, 2);
        var nacks = new List<ushort>();
        var plis = 0;
        foreach (var packet in Rtcp.Enumerate(buffer.AsSpan(0, length)))
        {
            if (packet.IsNack)
            {
                var sequences = new ushort[17];
                nacks.AddRange(sequences[..Rtcp.ReadNackSequences(packet.Fci, sequences)]);
                Assert.Equal(2u, packet.MediaSsrc);
            }

            plis += packet.IsPli ? 1 : 0;
        }

        Assert.Equal([100, 101, 103, 116], nacks);
        Assert.Equal(1, plis);
    }

    [Fact]
    public void TruncatedOrGarbagePackets_StopTheWalkAsMalformed()
    {
        var buffer = new byte[16];
        var length = Rtcp.WriteNack(buffer, 1, 2, 5, 0);
        for (var cut = 1; cut < length; cut++)
        {
            var walk = Rtcp.Enumerate(buffer.AsSpan(0, cut));
            while (walk.MoveNext())
            {
            }

            Assert.True(walk.Malformed, $"cut at {cut}");
        }

        var random = new Random(3550);
        var garbage = new byte[300];
        Span<ushort> sequences = stackalloc ushort[16];
        for (var i = 0; i < 5000; i++)
        {
            random.NextBytes(garbage);
            foreach (var packet in Rtcp.Enumerate(garbage.AsSpan(0, random.Next(garbage.Length))))
            {
                _ = Rtcp.ReadNackSequences(packet.Fci, sequences);
            }
        }
    }

    [Fact]
    public void NtpTimestamp_CountsFrom1900()
    {
        var ntp = Rtcp.NtpTimestamp(new DateTime(1970, 1, 1, 0, 0, 0, 500, DateTimeKind.Utc));
        Assert.Equal(2208988800UL, ntp >> 32);
        Assert.Equal(1UL << 31, ntp & 0xFFFFFFFF);
    }
}
