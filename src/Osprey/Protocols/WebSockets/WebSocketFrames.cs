using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.Protocols.WebSockets;

/// <summary>RFC 6455 opcodes.</summary>
public enum WebSocketOpcode : byte
{
    /// <summary>Continuation of a fragmented message.</summary>
    Continuation = 0x0,

    /// <summary>A text message (UTF-8).</summary>
    Text = 0x1,

    /// <summary>A binary message.</summary>
    Binary = 0x2,

    /// <summary>Close, with an optional status code and reason.</summary>
    Close = 0x8,

    /// <summary>Ping; answered with a pong carrying the same payload.</summary>
    Ping = 0x9,

    /// <summary>Pong.</summary>
    Pong = 0xA,
}

/// <summary>Pure RFC 6455 helpers: the server's frame headers and the handshake's accept value.</summary>
public static class WebSocketFrames
{
    /// <summary>The longest header a server frame needs: 2 bytes plus a 64-bit length (servers never mask).</summary>
    public const int MaxServerHeaderSize = 10;

    /// <summary>
    /// Writes the header of one unfragmented, unmasked server frame carrying <paramref name="payloadLength"/>
    /// bytes, and returns its size (2, 4 or 10 bytes).
    /// </summary>
    /// <remarks>
    /// <code>
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-------+-+-------------+-------------------------------+
    /// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    /// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    /// </code>
    /// </remarks>
    public static int WriteServerHeader(Span<byte> destination, WebSocketOpcode opcode, long payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        destination[0] = (byte)(0x80 | (byte)opcode);
        if (payloadLength < 126)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }

        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
        return 10;
    }

    /// <summary>The <c>Sec-WebSocket-Accept</c> value for a client's <c>Sec-WebSocket-Key</c>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "RFC 6455 §4.2.2 defines the accept value as SHA-1; it is not used for security.")]
    public static string ComputeAccept(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Span<byte> input = stackalloc byte[128];
        var written = Encoding.ASCII.GetBytes(key.Trim(), input);
        written += Encoding.ASCII.GetBytes("258EAFA5-E914-47DA-95CA-C5AB0DC85B11", input[written..]);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(input[..written], hash);
        return Convert.ToBase64String(hash);
    }

    /// <summary>
    /// True for a close code a peer may send (RFC 6455 §7.4): the defined 1000-1003 and 1007-1014, and 3000-4999
    /// for libraries and applications. 1005, 1006 and 1015 are only ever reported locally, 1004 and 1016-2999 are
    /// reserved, and below 1000 or from 5000 are not codes at all: receiving any of them is a protocol error.
    /// </summary>
    public static bool IsValidReceivedCloseCode(ushort code) =>
        code is >= 1000 and <= 1003 or >= 1007 and <= 1014 or >= 3000 and <= 4999;

    /// <summary>True when <paramref name="key"/> is base64 of 16 bytes, as RFC 6455 §4.1 requires.</summary>
    public static bool IsValidKey(string? key)
    {
        if (string.IsNullOrWhiteSpace(key) || key.Length > 64)
        {
            return false;
        }

        Span<byte> decoded = stackalloc byte[48];
        return Convert.TryFromBase64String(key.Trim(), decoded, out var length) && length == 16;
    }
}
