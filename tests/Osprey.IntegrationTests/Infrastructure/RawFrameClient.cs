using System.Buffers.Binary;
using System.Net.WebSockets;
using Osprey.Media;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>A real WebSocket viewer (<see cref="ClientWebSocket"/>) that reads whole frames and checks their probe headers.</summary>
public sealed class RawFrameClient : IDisposable
{
    private readonly ClientWebSocket _socket = new();
    private byte[] _buffer = new byte[1 << 20];

    public ClientWebSocket Socket => _socket;

    public List<ProbeHeader> Headers { get; } = [];

    public List<int> Sizes { get; } = [];

    public int TornFrames { get; private set; }

    public static async Task<RawFrameClient> ConnectAsync(Uri uri, string? subProtocol = null, CancellationToken cancellationToken = default)
    {
        var client = new RawFrameClient();
        if (subProtocol is not null)
        {
            client._socket.Options.AddSubProtocol(subProtocol);
        }

        await client._socket.ConnectAsync(uri, cancellationToken);
        return client;
    }

    /// <summary>Receives one whole message; returns its length, or -1 on close.</summary>
    public async Task<int> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var result = await _socket.ReceiveAsync(_buffer.AsMemory(length), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return -1;
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                break;
            }
        }

        var frame = _buffer.AsSpan(0, length);
        Sizes.Add(length);
        if (ProbeHeader.TryRead(frame, out var header))
        {
            Headers.Add(header);
            if (!ProbeHeader.IsIntact(frame, header))
            {
                TornFrames++;
            }
        }

        return length;
    }

    /// <summary>The frame bytes of the last message received.</summary>
    public ReadOnlySpan<byte> LastFrame => _buffer.AsSpan(0, Sizes.Count > 0 ? Sizes[^1] : 0);

    public async Task ReceiveFramesAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        for (var i = 0; i < count; i++)
        {
            if (await ReceiveFrameAsync(cts.Token) < 0)
            {
                throw new InvalidOperationException($"server closed after {i} frames: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
            }
        }
    }

    public static uint CounterOf(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32LittleEndian(frame[4..]);

    public void Dispose() => _socket.Dispose();
}
