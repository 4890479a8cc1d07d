using System.Buffers;
using Osprey.Protocols.OpenMv;

namespace Osprey.Tests.Protocols.OpenMv;

public class OpenMvProtocolTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal).Replace("|", "", StringComparison.Ordinal));

    private static byte[] Encode(byte seq, byte channel, OpenMvFlags flags, OpenMvOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var writer = new ArrayBufferWriter<byte>();
        OpenMvPacketHeader.Encode(writer, seq, channel, flags, opcode, payload);
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Crcs_MatchTheReferenceVectors()
    {
        Assert.Equal(0xE541, OpenMvCrc.Crc16("123456789"u8));
        Assert.Equal(0x41B403D3u, OpenMvCrc.Crc32("123456789"u8));
    }

    [Fact]
    public void Sync_GetCaps_HostAck_AndChannelRead_AreByteExact()
    {
        Assert.Equal(Hex("aa d5 00 00 00 00 00 00 b0 ac"), Encode(0, 0, OpenMvFlags.None, OpenMvOpcode.ProtoSync, default));
        Assert.Equal(Hex("aa d5 00 00 00 01 00 00 c3 dd"), Encode(0, 0, OpenMvFlags.None, OpenMvOpcode.ProtoGetCaps, default));
        Assert.Equal(Hex("aa d5 00 00 01 01 00 00 7b 37"), Encode(0, 0, OpenMvFlags.Ack, OpenMvOpcode.ProtoGetCaps, default));
        Assert.Equal(
            Hex("aa d5 05 03 00 26 08 00 5e b8 | 00 00 00 00 00 04 00 00 | bf bf a4 b1"),
            Encode(5, 3, OpenMvFlags.None, OpenMvOpcode.ChannelRead, Hex("00 00 00 00 00 04 00 00")));
    }

    [Fact]
    public void HostLink_WritesTheReferenceSyncAndAckPackets()
    {
        var link = new OpenMvHostLink();
        var output = new ArrayBufferWriter<byte>();
        link.WriteSync(output);
        Assert.Equal(Hex("aa d5 00 00 00 00 00 00 b0 ac"), output.WrittenSpan.ToArray());

        // The device ACKs SYNC at seq 0 and stays at 0; then GET_CAPS goes out at seq 0.
        output.Clear();
        Assert.Equal(OpenMvReceiveKind.Ack, link.OnPacket(new OpenMvPacketHeader(0, 0, OpenMvFlags.Ack, OpenMvOpcode.ProtoSync, 0), default, output).Kind);
        Assert.Equal(0, link.Sequence);
        link.WriteRequest(output, 0, OpenMvOpcode.ProtoGetCaps, default);
        Assert.Equal(Hex("aa d5 00 00 00 01 00 00 c3 dd"), output.WrittenSpan.ToArray());

        // Its reply asks for an ACK: the host's ACK is the reference packet, and the sequence moves to 1.
        output.Clear();
        var caps = new byte[16];
        var received = link.OnPacket(new OpenMvPacketHeader(0, 0, OpenMvFlags.AckRequired, OpenMvOpcode.ProtoGetCaps, 16), caps, output);
        Assert.Equal(OpenMvReceiveKind.Data, received.Kind);
        Assert.Equal(Hex("aa d5 00 00 01 01 00 00 7b 37"), output.WrittenSpan.ToArray());
        Assert.Equal(1, link.Sequence);
    }

    [Fact]
    public void HostLink_RefusesAReplyThatGrowsPastWhatWasAskedFor_AndHoldsNoMoreThanThat()
    {
        var link = new OpenMvHostLink();
        var output = new ArrayBufferWriter<byte>();
        link.WriteRequest(output, 3, OpenMvOpcode.ChannelRead, new byte[8], maxReplyBytes: 3000);
        var fragment = new byte[1000];

        // A camera that sends fragments without end: three fit what the READ asked for, the fourth does not.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(OpenMvReceiveKind.Fragment, link.OnPacket(new(link.Sequence, 3, OpenMvFlags.Fragment, OpenMvOpcode.ChannelRead, 1000), fragment, output).Kind);
        }

        var fourth = link.OnPacket(new(link.Sequence, 3, OpenMvFlags.Fragment, OpenMvOpcode.ChannelRead, 1000), fragment, output);

        Assert.Equal(OpenMvReceiveKind.Oversized, fourth.Kind);
        Assert.Equal(0, link.Reply.Length); // what it had is dropped, not kept growing

        // Any other request's reply is one packet's payload at most.
        link.WriteRequest(output, 0, OpenMvOpcode.ProtoGetCaps, default);
        var caps = link.OnPacket(new(link.Sequence, 0, OpenMvFlags.Fragment, OpenMvOpcode.ProtoGetCaps, OpenMvProtocol.MaxPayload), new byte[OpenMvProtocol.MaxPayload], output);
        Assert.Equal(OpenMvReceiveKind.Fragment, caps.Kind);
        Assert.Equal(OpenMvReceiveKind.Oversized, link.OnPacket(new(link.Sequence, 0, OpenMvFlags.None, OpenMvOpcode.ProtoGetCaps, 1), [1], output).Kind);
    }

    [Fact]
    public void HostLink_AcksAnEventSentWithAckReq_WithTheEventsSequence_AndKeepsItsOwnSequence()
    {
        var link = new OpenMvHostLink();
        var output = new ArrayBufferWriter<byte>();
        link.WriteRequest(output, 3, OpenMvOpcode.ChannelRead, new byte[8]);
        output.Clear();

        // send_event(..., wait_ack=True): the camera waits in WAIT_ACK until this ACK comes.
        var received = link.OnPacket(new(42, 3, OpenMvFlags.Event | OpenMvFlags.AckRequired, OpenMvOpcode.ChannelEvent, 2), [1, 0], output);
        Assert.Equal(OpenMvReceiveKind.Event, received.Kind);
        Assert.Equal(Encode(42, 3, OpenMvFlags.Ack, OpenMvOpcode.ChannelEvent, default), output.WrittenSpan.ToArray());
        Assert.Equal(0, link.Sequence);
        Assert.Equal(1, link.AcksSent);

        // An event without ACK_REQ is not answered.
        output.Clear();
        link.OnPacket(new(43, 3, OpenMvFlags.Event, OpenMvOpcode.ChannelEvent, 2), [1, 0], output);
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void HostLink_ReAcksDuplicates_ReassemblesFragments_AndLeavesSequenceAloneForEvents()
    {
        var link = new OpenMvHostLink();
        var output = new ArrayBufferWriter<byte>();
        link.WriteRequest(output, 3, OpenMvOpcode.ChannelRead, new byte[8]);
        output.Clear();
        Assert.Equal(OpenMvReceiveKind.Fragment, link.OnPacket(new(0, 3, OpenMvFlags.AckRequired | OpenMvFlags.Fragment, OpenMvOpcode.ChannelRead, 2), [1, 2], output).Kind);
        Assert.Equal(OpenMvReceiveKind.Event, link.OnPacket(new(9, 3, OpenMvFlags.Event, OpenMvOpcode.ChannelEvent, 0), default, output).Kind);
        Assert.Equal(1, link.Sequence);

        // Our ACK of seq 0 was lost: the device sends it again with RTX; it is re-ACKed and dropped.
        output.Clear();
        Assert.Equal(OpenMvReceiveKind.Duplicate, link.OnPacket(new(0, 3, OpenMvFlags.AckRequired | OpenMvFlags.Fragment | OpenMvFlags.Rtx, OpenMvOpcode.ChannelRead, 2), [1, 2], output).Kind);
        Assert.Equal(Encode(0, 3, OpenMvFlags.Ack, OpenMvOpcode.ChannelRead, default), output.WrittenSpan.ToArray());

        // The last fragment was damaged the first time: its retransmission at the expected seq is taken.
        var last = link.OnPacket(new(1, 3, OpenMvFlags.AckRequired | OpenMvFlags.Rtx, OpenMvOpcode.ChannelRead, 1), [3], output);
        Assert.Equal(OpenMvReceiveKind.Data, last.Kind);
        Assert.Equal(new byte[] { 1, 2, 3 }, link.Reply.ToArray());
        Assert.Equal(2, link.Sequence);
        Assert.Equal(1, link.Duplicates);
        Assert.Equal(2, link.RetransmitsReceived);

        // A stale packet (wrong seq, no RTX) is dropped without advancing.
        Assert.Equal(OpenMvReceiveKind.OutOfSequence, link.OnPacket(new(7, 3, OpenMvFlags.None, OpenMvOpcode.ChannelRead, 1), [3], output).Kind);
        Assert.Equal(2, link.Sequence);
    }

    [Fact]
    public void HostLink_ReportsNakStatus()
    {
        var link = new OpenMvHostLink();
        var output = new ArrayBufferWriter<byte>();
        link.WriteRequest(output, 3, OpenMvOpcode.ChannelLock, default);
        var nak = link.OnPacket(new(0, 3, OpenMvFlags.Nak, OpenMvOpcode.ChannelLock, 2), [4, 0], output);
        Assert.Equal((OpenMvReceiveKind.Nak, OpenMvStatus.Busy), (nak.Kind, nak.Status));
        Assert.Equal(1, link.Sequence);
    }

    [Fact]
    public void Decoder_FindsPacketsAtEverySplitPoint_ThroughGarbage()
    {
        var payload = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        var stream = new List<byte>();
        stream.AddRange(Hex("00 aa 13 aa aa d5 77"));
        stream.AddRange(Encode(1, 3, OpenMvFlags.AckRequired, OpenMvOpcode.ChannelRead, payload));
        stream.AddRange(Hex("aa"));
        stream.AddRange(Encode(2, 0, OpenMvFlags.Ack, OpenMvOpcode.ProtoSetCaps, default));
        var bytes = stream.ToArray();
        for (var split = 0; split <= bytes.Length; split++)
        {
            var decoder = new OpenMvPacketDecoder();
            var found = new List<(OpenMvPacketHeader Header, byte[] Payload)>();
            foreach (var part in new[] { bytes[..split], bytes[split..] })
            {
                decoder.Push(part);
                while (decoder.TryDecode(out var header, out var data) == OpenMvDecodeResult.Packet)
                {
                    found.Add((header, data.ToArray()));
                }
            }

            Assert.Equal(2, found.Count);
            Assert.Equal(payload, found[0].Payload);
            Assert.Equal(OpenMvOpcode.ProtoSetCaps, found[1].Header.Opcode);
        }
    }

    [Fact]
    public void Decoder_DropsCorruptTruncatedAndOversizedPackets_AndCountsThem()
    {
        var good = Encode(4, 3, OpenMvFlags.None, OpenMvOpcode.ChannelRead, new byte[100]);
        var badPayload = (byte[])good.Clone();
        badPayload[50] ^= 0x40;
        var badHeader = (byte[])good.Clone();
        badHeader[3] ^= 0x01;
        var oversized = Encode(4, 3, OpenMvFlags.None, OpenMvOpcode.ChannelRead, new byte[200]);
        var decoder = new OpenMvPacketDecoder(maxPayload: 150);
        decoder.Push([.. badHeader, .. oversized, .. badPayload, .. good[..30], .. good, .. good]);
        var results = new List<OpenMvDecodeResult>();
        OpenMvDecodeResult result;
        while ((result = decoder.TryDecode(out _, out _)) != OpenMvDecodeResult.NeedMoreData)
        {
            results.Add(result);
        }

        // The truncated packet's valid header swallows the bytes after it (its length is trusted) and fails its
        // payload CRC; the damaged packets are dropped; the good one at the end still comes through.
        Assert.Equal(OpenMvDecodeResult.Packet, results[^1]);
        Assert.Single(results, r => r == OpenMvDecodeResult.Packet);
        Assert.True(decoder.PayloadCrcErrors >= 1);
        Assert.True(decoder.HeaderCrcErrors >= 1);
        Assert.Equal(1, decoder.OversizedPackets);
        Assert.True(decoder.GarbageBytes > 0);
    }

    [Fact]
    public void Decoder_OnTenMegabytesOfRandomBytes_NeverThrows_AndStillFindsRealPackets()
    {
        var random = new Random(7);
        var decoder = new OpenMvPacketDecoder();
        var chunk = new byte[4096];
        var good = Encode(9, 3, OpenMvFlags.None, OpenMvOpcode.ChannelRead, new byte[64]);
        var found = 0;
        for (var i = 0; i < 2560; i++)
        {
            random.NextBytes(chunk);
            decoder.Push(chunk.AsSpan(0, random.Next(chunk.Length)));
            if (i % 10 == 0)
            {
                decoder.Push(good);
            }

            while (decoder.TryDecode(out var header, out var payload) != OpenMvDecodeResult.NeedMoreData)
            {
                if (header.Sequence == 9 && payload.Length == 64)
                {
                    found++;
                }
            }
        }

        // A real packet may be swallowed by random bytes that happen to start a plausible header, rarely.
        Assert.True(found > 230, $"found {found} of 256");
        Assert.True(decoder.GarbageBytes > 1_000_000);
    }

    [Fact]
    public void FrameHeader_RoundTrips_AndRejectsNonsense()
    {
        var bytes = new byte[24];
        new OpenMvFrameHeader(320, 240, OpenMvFrameHeader.Jpeg, 25000, 32).WriteTo(bytes, 30f);
        Assert.True(OpenMvFrameHeader.TryRead(bytes, out var header));
        Assert.Equal((320u, 240u, true, 25000L, 32u), (header.Width, header.Height, header.IsJpeg, header.ImageBytes, header.Offset));
        Assert.False(OpenMvFrameHeader.TryRead(bytes.AsSpan(0, 19), out _));
        Assert.False(OpenMvFrameHeader.TryRead(new byte[24], out _));
    }

    [Fact]
    public void Pixels_GrayAndRgb565_BecomeLimitedRangeYuyv()
    {
        var yuyv = new byte[8];
        OpenMvPixels.GrayscaleToYuyv([0, 255, 128, 128], 2, 2, yuyv);
        Assert.Equal(new byte[] { 16, 128, 235, 128, 126, 128, 126, 128 }, yuyv);
        var white = new byte[] { 0xFF, 0xFF, 0xFF, 0xFF };
        var red = new byte[] { 0x00, 0xF8, 0x00, 0xF8 };
        var out2 = new byte[4];
        OpenMvPixels.Rgb565ToYuyv(white, 2, 1, out2);
        Assert.Equal(new byte[] { 235, 128, 235, 128 }, out2);
        OpenMvPixels.Rgb565ToYuyv(red, 2, 1, out2);
        Assert.Equal(new byte[] { 82, 90, 82, 240 }, out2);
    }
}
