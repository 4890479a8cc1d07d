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
