using System.Net.WebSockets;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>A jsmpeg-like WebSocket viewer of an MPEG-TS feed: keeps every binary message, in order.</summary>
public sealed class TsViewer : IDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly List<byte[]> _messages = [];
    private readonly List<DateTime> _times = [];
    private readonly MemoryStream _bytes = new();

    public string? SubProtocol => _socket.SubProtocol;

    public IReadOnlyList<byte[]> Messages => _messages;

    /// <summary>When each message arrived (UTC), parallel to <see cref="Messages"/>.</summary>
    public IReadOnlyList<DateTime> Times => _times;

    /// <summary>Every byte received, in order.</summary>
    public byte[] Bytes => _bytes.ToArray();

    public long ByteCount => _bytes.Length;

    public static async Task<TsViewer> ConnectAsync(Uri uri, string? subProtocol = null)
    {
        var viewer = new TsViewer();
        if (subProtocol is not null)
        {
            viewer._socket.Options.AddSubProtocol(subProtocol);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await viewer._socket.ConnectAsync(uri, cts.Token);
        return viewer;
    }

    /// <summary>Receives until <paramref name="until"/> holds or <paramref name="timeout"/> passes; false on timeout.</summary>
    public async Task<bool> ReceiveUntilAsync(Func<TsViewer, bool> until, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[256 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (!until(this))
            {
                var result = await _socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"server closed: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    var bytes = message.ToArray();
                    message.SetLength(0);
                    if (result.MessageType == WebSocketMessageType.Binary)
                    {
                        _messages.Add(bytes);
                        _times.Add(DateTime.UtcNow);
                        _bytes.Write(bytes);
                    }
                }
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Receives for <paramref name="duration"/>.</summary>
    public Task ReceiveForAsync(TimeSpan duration) => ReceiveUntilAsync(_ => false, duration);

    public void Dispose()
    {
        _socket.Dispose();
        _bytes.Dispose();
    }
}

/// <summary>Reads MPEG-TS as a test sees it: packets, PIDs, payload starts.</summary>
public static class TsInspection
{
    public const int PacketSize = 188;

    public static int Pid(ReadOnlySpan<byte> packet) => ((packet[1] & 0x1F) << 8) | packet[2];

    public static bool PayloadStart(ReadOnlySpan<byte> packet) => (packet[1] & 0x40) != 0;

    /// <summary>The payload of a packet (after any adaptation field).</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> packet)
    {
        var control = (packet[3] >> 4) & 3;
        var offset = 4;
        if (control is 2 or 3)
        {
            offset += 1 + packet[4];
        }

        return control is 1 or 3 && offset < PacketSize ? packet[offset..PacketSize] : [];
    }

    /// <summary>True when every 188-byte step of <paramref name="data"/> starts with the sync byte.</summary>
    public static bool IsAligned(ReadOnlySpan<byte> data)
    {
        if (data.Length % PacketSize != 0)
        {
            return false;
        }

        for (var i = 0; i < data.Length; i += PacketSize)
        {
            if (data[i] != 0x47)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>PIDs that carry a PES with the given stream_id range (0xE0 video, 0xC0 audio) somewhere in <paramref name="data"/>.</summary>
    public static HashSet<int> PesPids(ReadOnlySpan<byte> data, byte firstStreamId, byte lastStreamId)
    {
        var pids = new HashSet<int>();
        for (var i = 0; i + PacketSize <= data.Length; i += PacketSize)
        {
            var packet = data.Slice(i, PacketSize);
            if (packet[0] != 0x47 || !PayloadStart(packet))
            {
                continue;
            }

            var payload = Payload(packet);
            if (payload.Length >= 4 && payload[0] == 0 && payload[1] == 0 && payload[2] == 1 && payload[3] >= firstStreamId && payload[3] <= lastStreamId)
            {
                pids.Add(Pid(packet));
            }
        }

        return pids;
    }

    /// <summary>Byte offsets of packets on <paramref name="pid"/>.</summary>
    public static int CountPackets(ReadOnlySpan<byte> data, int pid)
    {
        var count = 0;
        for (var i = 0; i + PacketSize <= data.Length; i += PacketSize)
        {
            if (data[i] == 0x47 && Pid(data.Slice(i, PacketSize)) == pid)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>True when <paramref name="data"/> holds an MPEG-1/2 sequence header start code.</summary>
    public static bool HasSequenceHeader(ReadOnlySpan<byte> data) => data.IndexOf((ReadOnlySpan<byte>)[0x00, 0x00, 0x01, 0xB3]) >= 0;
}
