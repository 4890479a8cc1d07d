using System.Security.Cryptography;
using Osprey.Protocols.WebSockets;

namespace Osprey.Tests.Protocols.WebSockets;

public class WebSocketFramingTests
{
    [Fact]
    public void Accept_MatchesTheRfc6455Example()
    {
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketFrames.ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    [Theory]
    [InlineData(0, new byte[] { 0x82, 0 })]
    [InlineData(125, new byte[] { 0x82, 125 })]
    [InlineData(126, new byte[] { 0x82, 126, 0, 126 })]
    [InlineData(65535, new byte[] { 0x82, 126, 0xFF, 0xFF })]
    [InlineData(65536, new byte[] { 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0 })]
    [InlineData(614400, new byte[] { 0x82, 127, 0, 0, 0, 0, 0, 0x09, 0x60, 0x00 })]
    public void ServerHeader_UsesTheShortestLengthEncoding_Unmasked(long length, byte[] expected)
    {
        var header = new byte[WebSocketFrames.MaxServerHeaderSize];
        var written = WebSocketFrames.WriteServerHeader(header, WebSocketOpcode.Binary, length);
        Assert.Equal(expected, header[..written]);
    }

    [Theory]
    [InlineData("dGhlIHNhbXBsZSBub25jZQ==", true)]
    [InlineData("", false)]
    [InlineData("not base64!", false)]
    [InlineData("AAAA", false)] // 3 bytes, not 16
    public void KeyValidation_RequiresBase64Of16Bytes(string key, bool valid) =>
        Assert.Equal(valid, WebSocketFrames.IsValidKey(key));

    [Fact]
    public void Parser_UnmasksFramesSplitAtEveryByteBoundary()
    {
        var stream = new List<byte>();
        stream.AddRange(ClientFrame(WebSocketOpcode.Ping, "hello"u8));
        stream.AddRange(ClientFrame(WebSocketOpcode.Text, new byte[300])); // 16-bit length
        stream.AddRange(ClientFrame(WebSocketOpcode.Close, [0x03, 0xE8]));
        var bytes = stream.ToArray();

        var parser = new ClientFrameParser();
        var seen = new List<(WebSocketOpcode Opcode, byte[] Payload)>();
        foreach (var b in bytes)
        {
            Assert.True(parser.Parse([b], seen, static (list, opcode, _, payload) =>
            {
                list.Add((opcode, payload.ToArray()));
                return true;
            }));
        }

        Assert.Equal([WebSocketOpcode.Ping, WebSocketOpcode.Text, WebSocketOpcode.Close], seen.Select(s => s.Opcode));
        Assert.Equal("hello"u8.ToArray(), seen[0].Payload);
        Assert.Equal(300, seen[1].Payload.Length);
        Assert.Equal(new byte[] { 0x03, 0xE8 }, seen[2].Payload);
    }

    [Fact]
    public void Parser_HandlesAnEmptyCloseFrame()
    {
        var parser = new ClientFrameParser();
        var count = 0;
        Assert.True(parser.Parse(ClientFrame(WebSocketOpcode.Close, []), 0, (_, opcode, _, payload) =>
        {
            count++;
            Assert.Equal(WebSocketOpcode.Close, opcode);
            Assert.True(payload.IsEmpty);
            return false;
        }));
        Assert.Equal(1, count);
    }

    [Fact]
    public void Parser_RejectsUnmaskedClientFrames()
    {
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(new byte[] { 0x81, 0x01, (byte)'a' }, 0, (_, _, _, _) => true));
        Assert.Equal(1002, parser.ErrorCloseCode);
        Assert.Contains("masked", parser.Error);
    }

    [Fact]
    public void Parser_RejectsOversizedMessagesBeforeReadingThem()
    {
        var parser = new ClientFrameParser();
        // 10 MB announced in a 64-bit length, masked, with no payload following.
        byte[] header = [0x82, 0xFF, 0, 0, 0, 0, 0, 0xA0, 0, 0, 1, 2, 3, 4];
        Assert.False(parser.Parse(header, 0, (_, _, _, _) => true));
        Assert.Equal(1009, parser.ErrorCloseCode);
    }

    [Fact]
    public void Parser_RejectsLongAndFragmentedControlFrames_AndUnknownOpcodes()
    {
        Assert.False(new ClientFrameParser().Parse(new byte[] { 0x89, 0x80 | 126, 0, 200, 1, 2, 3, 4 }, 0, (_, _, _, _) => true));
        Assert.False(new ClientFrameParser().Parse(new byte[] { 0x09, 0x80, 1, 2, 3, 4 }, 0, (_, _, _, _) => true));
        Assert.False(new ClientFrameParser().Parse(new byte[] { 0x83, 0x80, 1, 2, 3, 4 }, 0, (_, _, _, _) => true));
    }

    [Fact]
    public void Parser_SurvivesRandomGarbage_WithoutThrowing()
    {
        var random = new Random(1234);
        var garbage = new byte[1 << 20];
        for (var round = 0; round < 20; round++)
        {
            random.NextBytes(garbage);
            var parser = new ClientFrameParser();
            var offset = 0;
            while (offset < garbage.Length)
            {
                var chunk = Math.Min(random.Next(1, 9000), garbage.Length - offset);
                if (!parser.Parse(garbage.AsSpan(offset, chunk), 0, (_, _, _, _) => true))
                {
                    Assert.NotNull(parser.Error);
                    break;
                }

                offset += chunk;
            }
        }
    }

    [Theory]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(1015)]
    [InlineData(1016)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(65535)]
    public void Parser_RefusesCloseCodesNoEndpointMaySend_With1002(int code)
    {
        var parser = new ClientFrameParser();
        var handled = 0;
        Assert.False(parser.Parse(ClientFrame(WebSocketOpcode.Close, [(byte)(code >> 8), (byte)code]), 0, (_, _, _, _) => ++handled > 0));
        Assert.Equal(0, handled);
        Assert.Equal(1002, parser.ErrorCloseCode);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(1003)]
    [InlineData(1007)]
    [InlineData(1011)]
    [InlineData(1014)]
    [InlineData(3000)]
    [InlineData(4999)]
    public void Parser_PassesValidCloseCodes(int code)
    {
        var parser = new ClientFrameParser();
        ushort seen = 0;
        Assert.True(parser.Parse(ClientFrame(WebSocketOpcode.Close, [(byte)(code >> 8), (byte)code, (byte)'o', (byte)'k']), 0, (_, _, _, payload) =>
        {
            seen = (ushort)((payload[0] << 8) | payload[1]);
            return false;
        }));
        Assert.Equal(code, seen);
    }

    [Fact]
    public void Parser_RefusesAOneByteClosePayload_With1002()
    {
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(ClientFrame(WebSocketOpcode.Close, [0x03]), 0, (_, _, _, _) => true));
        Assert.Equal(1002, parser.ErrorCloseCode);
    }

    [Fact]
    public void Parser_RefusesACloseReasonThatIsNotUtf8_With1007()
    {
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(ClientFrame(WebSocketOpcode.Close, [0x03, 0xE8, 0xFF, 0xFE]), 0, (_, _, _, _) => true));
        Assert.Equal(1007, parser.ErrorCloseCode);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xC0, 0xAF })] // overlong '/'
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // a UTF-16 surrogate
    [InlineData(new byte[] { (byte)'a', 0xE2, 0x82 })] // truncated at the message's end
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 })] // above U+10FFFF
    public void Parser_RefusesTextThatIsNotUtf8_With1007(byte[] text)
    {
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(ClientFrame(WebSocketOpcode.Text, text), 0, (_, _, _, _) => true));
        Assert.Equal(1007, parser.ErrorCloseCode);
    }

    [Fact]
    public void Parser_AcceptsUtf8SplitAcrossFragmentsAndReads_AndBinaryThatIsNotUtf8()
    {
        var euro = "x\u20AC\U0001F600y"u8.ToArray(); // 3- and 4-byte sequences
        var stream = new List<byte>();
        stream.AddRange(ClientFrame(WebSocketOpcode.Text, euro.AsSpan(0, 2), fin: false)); // cut inside the euro sign
        stream.AddRange(ClientFrame(WebSocketOpcode.Ping, "p"u8)); // a control frame between fragments is allowed
        stream.AddRange(ClientFrame(WebSocketOpcode.Continuation, euro.AsSpan(2, 4), fin: false)); // and inside the emoji
        stream.AddRange(ClientFrame(WebSocketOpcode.Continuation, euro.AsSpan(6)));
        stream.AddRange(ClientFrame(WebSocketOpcode.Binary, [0xFF, 0xFE]));
        var parser = new ClientFrameParser();
        var frames = 0;
        foreach (var b in stream)
        {
            Assert.True(parser.Parse([b], 0, (_, _, _, _) => ++frames > 0), parser.Error);
        }

        Assert.Equal(5, frames);
    }

    [Fact]
    public void Parser_RefusesAFragmentedTextMessageThatEndsInsideASequence_With1007()
    {
        var stream = new List<byte>();
        stream.AddRange(ClientFrame(WebSocketOpcode.Text, [(byte)'a', 0xE2], fin: false));
        stream.AddRange(ClientFrame(WebSocketOpcode.Continuation, [0x82]));
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(stream.ToArray(), 0, (_, _, _, _) => true));
        Assert.Equal(1007, parser.ErrorCloseCode);
    }

    [Fact]
    public void Parser_RefusesFragmentsOutOfOrder_With1002()
    {
        var continuation = new ClientFrameParser();
        Assert.False(continuation.Parse(ClientFrame(WebSocketOpcode.Continuation, "x"u8), 0, (_, _, _, _) => true));
        Assert.Equal(1002, continuation.ErrorCloseCode);

        var interleaved = new ClientFrameParser();
        var stream = ClientFrame(WebSocketOpcode.Text, "a"u8, fin: false).Concat(ClientFrame(WebSocketOpcode.Binary, "b"u8)).ToArray();
        Assert.False(interleaved.Parse(stream, 0, (_, _, _, _) => true));
        Assert.Equal(1002, interleaved.ErrorCloseCode);
    }

    [Fact]
    public void Parser_RefusesAnUnmaskedPingAsSoonAsItsTwoBytesArrive()
    {
        var parser = new ClientFrameParser();
        Assert.False(parser.Parse(new byte[] { 0x89, 0x00 }, 0, (_, _, _, _) => true));
        Assert.Equal(1002, parser.ErrorCloseCode);
    }

    [Fact]
    public void Parser_WaitsOnATruncatedFrame_WithoutDeliveringIt()
    {
        var frame = ClientFrame(WebSocketOpcode.Text, "hello"u8);
        var parser = new ClientFrameParser();
        var frames = 0;
        Assert.True(parser.Parse(frame.AsSpan(0, frame.Length - 1), 0, (_, _, _, _) => ++frames > 0));
        Assert.Equal(0, frames);
        Assert.True(parser.Parse(frame.AsSpan(frame.Length - 1), 0, (_, _, _, _) => ++frames > 0));
        Assert.Equal(1, frames);
    }

    [Fact]
    public void Guard_RefusesAnUnmaskedPingAtOnce_With1002()
    {
        var guard = new ClientFrameGuard(1024);
        Assert.False(guard.Check(new byte[] { 0x89, 0x00 }));
        Assert.Equal(1002, guard.ErrorCloseCode);
        Assert.Contains("masked", guard.Error);
    }

    [Fact]
    public void Guard_FollowsMaskedFramesSplitAtEveryByte_SkippingTheirPayloads()
    {
        var stream = new List<byte>();
        stream.AddRange(ClientFrame(WebSocketOpcode.Text, new byte[300]));
        stream.AddRange(ClientFrame(WebSocketOpcode.Ping, "p"u8));
        stream.AddRange(ClientFrame(WebSocketOpcode.Binary, new byte[60_000]));
        stream.AddRange(new byte[] { 0x82, 0x05, 1, 2, 3, 4, 5 }); // unmasked: refused after everything before it
        var guard = new ClientFrameGuard(100_000);
        var bytes = stream.ToArray();
        var refusedAt = -1;
        for (var i = 0; i < bytes.Length && refusedAt < 0; i++)
        {
            if (!guard.Check(bytes.AsSpan(i, 1)))
            {
                refusedAt = i;
            }
        }

        Assert.Equal(bytes.Length - 6, refusedAt); // at the unmasked frame's second byte
        Assert.Equal(1002, guard.ErrorCloseCode);
    }

    [Fact]
    public void Guard_RefusesAFrameOverItsLimit_FromTheHeaderAlone_With1009()
    {
        var guard = new ClientFrameGuard(10 * 1024 * 1024);
        // 10 MiB + 1 announced in a 64-bit length, masked, no payload following.
        byte[] header = [0x82, 0xFF, 0, 0, 0, 0, 0, 0xA0, 0, 1, 1, 2, 3, 4];
        Assert.False(guard.Check(header));
        Assert.Equal(1009, guard.ErrorCloseCode);
    }

    [Fact]
    public void Guard_SurvivesRandomGarbage_WithoutThrowing()
    {
        var random = new Random(99);
        var garbage = new byte[1 << 18];
        for (var round = 0; round < 20; round++)
        {
            random.NextBytes(garbage);
            var guard = new ClientFrameGuard(1 << 20);
            if (!guard.Check(garbage))
            {
                Assert.NotNull(guard.Error);
            }
        }
    }

    private static byte[] ClientFrame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin)
    {
        var frame = ClientFrame(opcode, payload);
        if (!fin)
        {
            frame[0] &= 0x7F;
        }

        return frame;
    }

    private static byte[] ClientFrame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var mask = RandomNumberGenerator.GetBytes(4);
        var header = new List<byte> { (byte)(0x80 | (byte)opcode) };
        if (payload.Length < 126)
        {
            header.Add((byte)(0x80 | payload.Length));
        }
        else
        {
            header.Add(0x80 | 126);
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }

        header.AddRange(mask);
        for (var i = 0; i < payload.Length; i++)
        {
            header.Add((byte)(payload[i] ^ mask[i & 3]));
        }

        return [.. header];
    }
}
