using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.Rtp;
using Osprey.Transforms;

namespace Osprey.Tests.Transforms;

public class RtpPacketizerTests
{
    private static readonly byte[] s_sps = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xF0, 0x3C, 0x58, 0xBA, 0x80];
    private static readonly byte[] s_pps = [0x68, 0xCE, 0x0F, 0x2C, 0x80];

    private static void Publish(Feed feed, bool key, int sliceLength, int index)
    {
        var slice = new byte[sliceLength];
        slice[0] = key ? (byte)0x65 : (byte)0x41;
        for (var i = 1; i < slice.Length; i++)
        {
            slice[i] = (byte)((i + index) % 250 + 1);
        }

        byte[] accessUnit = key ? [0, 0, 0, 1, .. s_sps, 0, 0, 0, 1, .. s_pps, 0, 0, 0, 1, .. slice] : [0, 0, 0, 1, .. slice];
        var frame = feed.Pool.Rent(accessUnit.Length);
        accessUnit.CopyTo(frame.GetWritableSpan(accessUnit.Length));
        frame.StampCaptured(MediaFormat.H264, 640, 480, key, ProbeHeader.NowMicros());
        feed.Publish(frame);
    }

    [Fact]
    public async Task AccessUnits_ArePacketizedOnce_AndNackedPacketsComeFromTheHistory()
    {
        using var source = new Feed("cam") { KeepGroupOfPictures = true };
        source.Info = new VideoInfo(MediaFormat.H264, 640, 480, 30);
        await using var packetizer = new RtpPacketizer(source, NullLogger.Instance);
        using var first = packetizer.Output.OpenOrderedReader();
        using var second = packetizer.Output.OpenOrderedReader();
        await Task.Delay(100); // the run attaches its reader to the source
        for (var i = 0; i < 40; i++)
        {
            Publish(source, key: i % 20 == 0, sliceLength: 5000, i);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (packetizer.AccessUnits < 40)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{packetizer.AccessUnits} access units packetized");
            await Task.Delay(20);
        }

        // Both viewers get the same frames: one packetization for all.
        Assert.True(first.TryDequeue(out var a));
        Assert.True(second.TryDequeue(out var b));
        Assert.Same(a, b);
        using (new FrameLease(a))
        using (new FrameLease(b))
        {
            Assert.True(a.IsKeyFrame);
            var packets = new List<byte[]>();
            foreach (var packet in new RtpPacketRun(a.Span))
            {
                packets.Add(packet.ToArray());
            }

            Assert.Equal(24, packets[0][12] & 0x1F); // SPS and PPS as a STAP-A first
            Assert.All(packets, p => Assert.Equal(packetizer.Ssrc, BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(8))));

            // A packet of the first access unit, as a NACK would ask for it.
            var sequence = BinaryPrimitives.ReadUInt16BigEndian(packets[2].AsSpan(2));
            var copy = new byte[1500];
            Assert.True(packetizer.TryCopyPacket(sequence, copy, out var length));
            Assert.Equal(packets[2], copy[..length]);
        }

        Assert.Equal(40, packetizer.AccessUnits);
        Assert.True(packetizer.ReadCounters().Counters["packets"] > 40 * 4);

        // Past 1024 packets the oldest leave the history.
        ushort oldest;
        Assert.True(first.TryDequeue(out var next));
        using (new FrameLease(next))
        {
            oldest = BinaryPrimitives.ReadUInt16BigEndian(next.Span[4..]);
        }

        // In groups the packetizer's reader (120 frames) keeps up with.
        for (var i = 40; i < 400; i++)
        {
            Publish(source, key: i % 20 == 0, sliceLength: 5000, i);
            if (i % 20 == 19)
            {
                while (packetizer.AccessUnits < i + 1)
                {
                    Assert.True(DateTime.UtcNow < deadline.AddSeconds(20), $"{packetizer.AccessUnits} access units packetized");
                    await Task.Delay(10);
                }
            }
        }

        Assert.False(packetizer.TryCopyPacket(oldest, new byte[1500], out _));
    }
}
