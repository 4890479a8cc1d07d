using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// A WebSocket viewer written on a bare socket, for what <see cref="System.Net.WebSockets.ClientWebSocket"/>
/// hides: the exact bytes after the 101, sending pings, and a client that stops reading.
/// </summary>
public sealed class RawSocketViewer : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawSocketViewer(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public string ResponseHead { get; private set; } = "";

    public static async Task<RawSocketViewer> ConnectAsync(Uri server, string path, int? receiveBuffer = null, string? extraHeaders = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBuffer is { } size)
        {
            socket.ReceiveBufferSize = size;
        }

        await socket.ConnectAsync(server.Host, server.Port);
        var viewer = new RawSocketViewer(socket);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {path} HTTP/1.1\r\nHost: {server.Host}:{server.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                      $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extraHeaders}\r\n";
        await viewer._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        viewer.ResponseHead = await viewer.ReadHeadAsync(TimeSpan.FromSeconds(10));
        if (!viewer.ResponseHead.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"expected a 101, got: {viewer.ResponseHead}");
        }

        return viewer;
    }

    public async Task<(byte FirstByte, int PayloadLength)> ReadFrameHeaderAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var head = new byte[10];
        await _stream.ReadExactlyAsync(head.AsMemory(0, 2), cts.Token);
        var code = head[1] & 0x7F;
        long length = code;
        if (code == 126)
        {
            await _stream.ReadExactlyAsync(head.AsMemory(2, 2), cts.Token);
            length = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(2));
        }
        else if (code == 127)
        {
            await _stream.ReadExactlyAsync(head.AsMemory(2, 8), cts.Token);
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(2));
        }

        return (head[0], checked((int)length));
    }

    public async Task<byte[]> ReadPayloadAsync(int length, bool keep)
    {
        var buffer = new byte[keep ? length : Math.Min(length, 65536)];
        var remaining = length;
        while (remaining > 0)
        {
            var read = await _stream.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, remaining)));
            if (read == 0)
            {
                throw new EndOfStreamException();
            }

            if (keep)
            {
                return remaining == read ? buffer : await ReadRestAsync(buffer, read, length);
            }

            remaining -= read;
        }

        return [];
    }

    public async Task SendMaskedAsync(byte opcode, byte[] payload)
    {
        var mask = RandomNumberGenerator.GetBytes(4);
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = (byte)(0x80 | opcode);
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ mask[i & 3]);
        }

        await _stream.WriteAsync(frame);
    }

    /// <summary>Sends <paramref name="bytes"/> as they are (a frame written by hand, unmasked or broken).</summary>
    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>
    /// Reads frames, skipping data ones, until the server's close frame; returns its code (1005 for an empty
    /// close) and reason, or null when the connection ended without one. Throws on timeout.
    /// </summary>
    public async Task<(int Code, string Reason)?> ReadCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        for (var frames = 0; frames < 100_000; frames++)
        {
            byte first;
            int length;
            try
            {
                (first, length) = await ReadFrameHeaderAsync(timeout).WaitAsync(cts.Token);
            }
            catch (Exception ex) when (ex is EndOfStreamException or IOException)
            {
                return null;
            }

            if ((first & 0x0F) != 0x8)
            {
                await ReadPayloadAsync(length, keep: false).WaitAsync(cts.Token);
                continue;
            }

            var payload = length == 0 ? [] : await ReadPayloadAsync(length, keep: true).WaitAsync(cts.Token);
            return payload.Length < 2 ? (1005, "") : (BinaryPrimitives.ReadUInt16BigEndian(payload), Encoding.UTF8.GetString(payload, 2, payload.Length - 2));
        }

        throw new InvalidOperationException("no close frame in 100,000 frames");
    }

    /// <summary>Sends a masked frame of any payload length (16- and 64-bit lengths too), FIN as given.</summary>
    public async Task SendMaskedFrameAsync(byte opcode, ReadOnlyMemory<byte> payload, bool fin = true)
    {
        var mask = RandomNumberGenerator.GetBytes(4);
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | opcode) };
        if (payload.Length < 126)
        {
            header.Add((byte)(0x80 | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            header.Add(0x80 | 126);
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }
        else
        {
            header.Add(0x80 | 127);
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            header.AddRange(length);
        }

        header.AddRange(mask);
        var frame = new byte[header.Count + payload.Length];
        header.CopyTo(frame);
        var span = payload.Span;
        for (var i = 0; i < span.Length; i++)
        {
            frame[header.Count + i] = (byte)(span[i] ^ mask[i & 3]);
        }

        await _stream.WriteAsync(frame);
    }

    public void Dispose() => _stream.Dispose();

    private async Task<byte[]> ReadRestAsync(byte[] buffer, int filled, int length)
    {
        await _stream.ReadExactlyAsync(buffer.AsMemory(filled, length - filled));
        return buffer;
    }

    private async Task<string> ReadHeadAsync(TimeSpan timeout)
    {
        // Byte by byte, so that nothing after the blank line (the first frame) is consumed here.
        using var cts = new CancellationTokenSource(timeout);
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 8192)
        {
            await _stream.ReadExactlyAsync(one, cts.Token);
            head.Add(one[0]);
            if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
            {
                break;
            }
        }

        return Encoding.ASCII.GetString([.. head]);
    }
}
