using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.LoadTest;

/// <summary>
/// A WebSocket client on a raw TCP socket: the RFC 6455 upgrade done by hand, frame headers parsed in place in
/// the viewer's fixed buffer, control frames answered, and payloads never assembled. Subclasses read the data
/// messages: <see cref="RawWebSocketViewer"/> (raw frames, JPEGs) and <see cref="Mp4WebSocketViewer"/> (fMP4).
/// </summary>
/// <remarks>
/// The buffer holds <c>[_start, _end)</c>: received bytes not yet consumed. Subclasses look at them with
/// <see cref="Peek"/>, consume them with <see cref="Advance"/> and <see cref="ConsumeBuffered"/>, receive into
/// <see cref="FreeSpace"/> and book the count with <see cref="Filled"/>; bytes they do not need go to the
/// <see cref="PayloadDiscarder"/> straight from the socket.
/// </remarks>
internal abstract class WebSocketViewer : Viewer
{
    /// <summary>Largest server frame header: 2 bytes and a 64-bit length (servers do not mask).</summary>
    protected const int MaxHeaderSize = 14;

    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private readonly byte[] _sendBuffer = new byte[2 + 4 + 125]; // largest masked control frame
    private int _start;
    private int _end;
    private bool _closeSent;

    protected WebSocketViewer(int id, bool stalled, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window, int bufferSize = BufferSize)
        : base(id, stalled, latencyCapacity, sizeCapacity, discarder, window, bufferSize)
    {
    }

    /// <summary>Received bytes not yet consumed.</summary>
    protected int Buffered => _end - _start;

    protected override async Task<string?> HandshakeAsync(string hostHeader, string target, CancellationToken ct)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = Encoding.ASCII.GetBytes(
            $"GET {target} HTTP/1.1\r\nHost: {hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: osprey-load\r\n\r\n");
        await SendAllAsync(request, ct);

        var headerEnd = await ReceiveResponseHeadAsync(0, ct);
        if (headerEnd < 0)
        {
            return headerEnd == -1 ? "handshake: connection closed before the response ended" : "handshake: response head larger than 4096 bytes";
        }

        var problem = CheckResponse(Encoding.ASCII.GetString(Buffer, 0, headerEnd), key);
        if (problem is not null)
        {
            return "handshake: " + problem;
        }

        // Bytes after the head already belong to the WebSocket stream (a fast server may send a frame at once).
        _start = headerEnd;
        _end = BufferedAfterHead;
        return null;
    }

    protected override async Task SayGoodbyeAsync(CancellationToken ct)
    {
        if (!_closeSent)
        {
            _closeSent = true;
            Span<byte> normalClosure = [0x03, 0xE8]; // 1000
            await SendControlAsync(BuildControl(0x8, normalClosure), ct);
        }
    }

    /// <summary>The next <paramref name="count"/> buffered bytes, not consumed.</summary>
    protected ReadOnlySpan<byte> Peek(int count) => Buffer.AsSpan(_start, count);

    /// <summary>Consumes <paramref name="count"/> buffered bytes.</summary>
    protected void Advance(int count) => _start += count;

    /// <summary>Length of the frame header whose first two bytes are buffered.</summary>
    protected int HeaderLength() => (Buffer[_start + 1] & 0x7F) switch { 127 => 10, 126 => 4, _ => 2 };

    /// <summary>Validates and consumes a buffered frame header.</summary>
    protected (int Opcode, bool Fin, long PayloadLength) ConsumeHeader(int headerLength)
    {
        var b0 = Buffer[_start];
        var b1 = Buffer[_start + 1];
        if ((b0 & 0x70) != 0)
        {
            throw new InvalidDataException($"reserved bits set in frame header 0x{b0:X2}");
        }

        if ((b1 & 0x80) != 0)
        {
            throw new InvalidDataException("server frame is masked");
        }

        long payloadLength = headerLength switch
        {
            10 => BinaryPrimitives.ReadInt64BigEndian(Buffer.AsSpan(_start + 2)),
            4 => BinaryPrimitives.ReadUInt16BigEndian(Buffer.AsSpan(_start + 2)),
            _ => b1 & 0x7F,
        };
        if (payloadLength is < 0 or > MaxPayloadBytes)
        {
            throw new InvalidDataException($"payload length {payloadLength} out of range");
        }

        _start += headerLength;
        return (b0 & 0x0F, (b0 & 0x80) != 0, payloadLength);
    }

    /// <summary>Control frames and anything that is not a video message (rare, so allocation here does not matter); false once closed.</summary>
    protected async Task<bool> HandleOtherMessageAsync(int opcode, bool fin, long payloadLength, CancellationToken ct)
    {
        if (opcode >= 0x8 && (!fin || payloadLength > 125))
        {
            throw new InvalidDataException($"control frame 0x{opcode:X} fragmented or longer than 125 bytes");
        }

        switch (opcode)
        {
            case 0x8:
                await HandleCloseAsync((int)payloadLength, ct);
                return false;
            case 0x9:
                await FillAsync((int)payloadLength, (int)payloadLength, ct);
                var pong = BuildControl(0xA, Buffer.AsSpan(_start, (int)payloadLength));
                _start += (int)payloadLength;
                await SendControlAsync(pong, ct);
                PingsAnswered++;
                return true;
            default:
                // Pongs, text, fragments, or binary frames too short to be video: skip them.
                if (opcode != 0xA)
                {
                    UnexpectedMessages++;
                }

                var remaining = ConsumeBuffered(payloadLength);
                while (remaining > 0)
                {
                    remaining -= Discarded(await Discarder.DiscardAsync(Socket!, remaining, ct));
                }

                return true;
        }
    }

    /// <summary>The free part of the buffer to receive into, sized so that at most <paramref name="want"/> bytes end up buffered.</summary>
    protected Memory<byte> FreeSpace(int want)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (Buffer.Length - _start < want)
        {
            Buffer.AsSpan(_start, _end - _start).CopyTo(Buffer);
            _end -= _start;
            _start = 0;
        }

        return Buffer.AsMemory(_end, _start + want - _end);
    }

    protected void Filled(int received)
    {
        if (received <= 0)
        {
            throw new IOException("connection closed by server without a close frame");
        }

        _end += received;
    }

    protected static int Discarded(int dropped) => dropped > 0 ? dropped : throw new IOException("connection closed by server inside a frame");

    /// <summary>Consumes up to <paramref name="count"/> already-buffered bytes and returns how many are still to drop from the socket.</summary>
    protected long ConsumeBuffered(long count)
    {
        var buffered = (int)Math.Min(Buffered, count);
        _start += buffered;
        return count - buffered;
    }

    private static string? CheckResponse(string head, string key)
    {
        var (status, headers) = ParseHead(head);
        if (StatusCode(status) != "101")
        {
            return $"expected 101, got \"{status}\"";
        }

        string? upgrade = null, connection = null, accept = null, extensions = null;
        foreach (var (name, value) in headers)
        {
            if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = value;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = value;
            }
            else if (name.Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase))
            {
                accept = value;
            }
            else if (name.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase))
            {
                extensions = value;
            }
        }

        if (!string.Equals(upgrade, "websocket", StringComparison.OrdinalIgnoreCase))
        {
            return $"Upgrade header is \"{upgrade}\"";
        }

        if (connection is null || !connection.Split(',').Any(t => t.Trim().Equals("Upgrade", StringComparison.OrdinalIgnoreCase)))
        {
            return $"Connection header is \"{connection}\"";
        }

        // RFC 6455 4.2.2 fixes SHA-1 here; it is an integrity check of the handshake, not security.
#pragma warning disable CA5350
        var expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));
#pragma warning restore CA5350
        if (accept != expected)
        {
            return $"Sec-WebSocket-Accept \"{accept}\" does not match the key";
        }

        // No extension was offered, so one in the answer (e.g. permessage-deflate) would change the framing.
        return extensions is null ? null : $"unrequested extension \"{extensions}\"";
    }

    private async Task HandleCloseAsync(int payloadLength, CancellationToken ct)
    {
        await FillAsync(payloadLength, payloadLength, ct);
        var payload = Buffer.AsSpan(_start, payloadLength);
        ServerCloseCode = payloadLength >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
        Error ??= $"closed by server ({ServerCloseCode})";

        // Echo the status code as RFC 6455 5.5.1 asks, then stop reading.
        var reply = BuildControl(0x8, payloadLength >= 2 ? payload[..2] : []);
        _start += payloadLength;
        _closeSent = true;
        await SendControlAsync(reply, ct);
    }

    /// <summary>Builds a masked control frame in the send buffer and returns its length.</summary>
    private int BuildControl(int opcode, ReadOnlySpan<byte> payload)
    {
        var frame = _sendBuffer.AsSpan();
        frame[0] = (byte)(0x80 | opcode);
        frame[1] = (byte)(0x80 | payload.Length);
        var mask = frame.Slice(2, 4);
        RandomNumberGenerator.Fill(mask);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ mask[i & 3]);
        }

        return 6 + payload.Length;
    }

    private async Task SendControlAsync(int length, CancellationToken ct)
    {
        var sent = 0;
        for (var pass = 0; pass < 16 && sent < length; pass++)
        {
            sent += await Socket!.SendAsync(_sendBuffer.AsMemory(sent, length - sent), SocketFlags.None, ct);
        }
    }

    /// <summary>Ensures <paramref name="need"/> bytes are buffered (rare paths only; the frame paths inline this).</summary>
    private async Task FillAsync(int need, int want, CancellationToken ct)
    {
        // Each receive returns at least one byte, so this runs at most `need` times.
        while (Buffered < need)
        {
            Filled(await Socket!.ReceiveAsync(FreeSpace(want), SocketFlags.None, ct));
        }
    }
}
