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
