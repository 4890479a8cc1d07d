using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.LoadTest;

/// <summary>One viewer: a raw TCP socket that does the RFC 6455 upgrade by hand and then reads frames without assembling them.</summary>
/// <remarks>
/// Per frame the viewer copies only the WebSocket header, the 32-byte probe header and the 4-byte tail into a small
/// buffer; the bulk of the payload is dropped by <see cref="PayloadDiscarder"/>. Steady-state reading allocates
/// nothing: <see cref="RunAsync"/> is a single async method awaiting the socket's reusable ValueTasks.
/// </remarks>
internal sealed class RawWebSocketViewer : IDisposable
{
    /// <summary>Size of the probe header at the start of every frame payload.</summary>
    public const int ProbeSize = 32;

    private const int TailSize = 4;
    private const int BufferSize = 4096; // also bounds the handshake response headers
    private const int MaxHeaderSize = 14;
    private const int HeaderReadAhead = MaxHeaderSize + ProbeSize;
    private const long MaxPayloadBytes = 256L * 1024 * 1024; // anything larger is a framing error, not video
    private const long UnixEpochTicks = 621_355_968_000_000_000;
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly byte[] _sendBuffer = new byte[2 + 4 + 125]; // largest masked control frame
    private readonly int[] _latencySamples;
    private readonly Random _sampleRandom;
    private readonly PayloadDiscarder _discarder;
    private readonly MeasurementWindow _window;
    private Socket? _socket;
    private int _start;
    private int _end;

    private uint _lastCounter;
    private int _sampleCount;
    private long _latencyCandidates;
    private long _latencyMaxUs = long.MinValue;
    private long _latencySumUs;
    private bool _closeSent;

    // Probe header of the frame being read.
    private bool _probeMagicOk;
    private uint _probeCounter;
    private long _probeCaptureUs;
    private int _probeWidth;
    private int _probeHeight;
    private uint _probeSize;

    public RawWebSocketViewer(int id, bool stalled, int latencyCapacity, PayloadDiscarder discarder, MeasurementWindow window)
    {
        Id = id;
        Stalled = stalled;
        _latencySamples = new int[stalled ? 0 : latencyCapacity];
        _sampleRandom = new Random(id);
        _discarder = discarder;
        _window = window;
    }

    public int Id { get; }

    public bool Stalled { get; }

    public bool Connected { get; private set; }

    /// <summary>Why the viewer failed to connect or stopped reading before the end of the run; null if it did neither.</summary>
    public string? Error { get; private set; }

    /// <summary>Close status code the server sent, if it closed the connection.</summary>
    public int? ServerCloseCode { get; private set; }

    public double ConnectMilliseconds { get; private set; }

    /// <summary>The read loop, started once the handshake succeeds (never for stalled viewers).</summary>
    public Task? ReadLoop { get; set; }

    public long FramesInWindow { get; private set; }

    public long BytesInWindow { get; private set; }

    public long TotalFrames { get; private set; }

    public long Skipped { get; private set; }

    public long Torn { get; private set; }

    public long OutOfOrder { get; private set; }

    public long BadProbes { get; private set; }

    public long UnexpectedMessages { get; private set; }

    public long PingsAnswered { get; private set; }

    public int Width { get; private set; }

    public int Height { get; private set; }

    public long PayloadLength { get; private set; }

    public ReadOnlySpan<int> LatencySamples => _latencySamples.AsSpan(0, _sampleCount);

    public long LatencyMaxUs => _latencyMaxUs;

    public long LatencySumUs => _latencySumUs;

    public long LatencyCount => _latencyCandidates;

    /// <summary>Connects and performs the opening handshake; on failure sets <see cref="Error"/> and returns false.</summary>
    public async Task<bool> ConnectAsync(EndPoint endpoint, string hostHeader, string target, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await _socket.ConnectAsync(endpoint, ct);

            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            var request = Encoding.ASCII.GetBytes(
                $"GET {target} HTTP/1.1\r\nHost: {hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: osprey-load\r\n\r\n");
            await SendAllAsync(request, ct);

            var headerEnd = await ReceiveResponseHeadAsync(ct);
            if (headerEnd < 0)
            {
                return Fail(headerEnd == -1 ? "handshake: connection closed before the response ended" : "handshake: response head larger than 4096 bytes");
            }

            var problem = CheckResponse(Encoding.ASCII.GetString(_buffer, 0, headerEnd), key);
            if (problem is not null)
            {
                return Fail("handshake: " + problem);
            }

            // Bytes after the head already belong to the WebSocket stream (a fast server may send a frame at once).
            _start = headerEnd;
            Connected = true;
            ConnectMilliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return true;
        }
        catch (OperationCanceledException)
        {
            return Fail("connect timeout");
        }
        catch (SocketException ex)
        {
            return Fail($"connect: {ex.SocketErrorCode}");
        }
        catch (ObjectDisposedException)
        {
            return Fail("connect: socket closed");
        }
    }

    /// <summary>Reads frames until <paramref name="ct"/> is cancelled, the server closes, or the stream breaks.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var socket = _socket!;
        try
        {
            // The frame path lives in this one method and awaits only the socket's own reusable ValueTasks, so its
            // state machine is allocated once per viewer rather than once per suspended helper call.
            // Bounded in time by ct (cancelled when the window ends); every pass consumes one message.
            while (!ct.IsCancellationRequested)
            {
                while (Buffered < 2)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(HeaderReadAhead), SocketFlags.None, ct));
                }

                var headerLength = HeaderLength();
                while (Buffered < headerLength)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(HeaderReadAhead), SocketFlags.None, ct));
                }

                var (opcode, fin, payloadLength) = ConsumeHeader(headerLength);
                if (opcode != 0x2 || !fin || payloadLength < ProbeSize + TailSize)
                {
                    if (!await HandleOtherMessageAsync(opcode, fin, payloadLength, ct))
                    {
                        return;
                    }

                    continue;
                }

                while (Buffered < ProbeSize)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(ProbeSize), SocketFlags.None, ct));
                }

                ConsumeProbe();
                var bulk = ConsumeBuffered(payloadLength - ProbeSize - TailSize);
                while (bulk > 0)
                {
                    bulk -= Discarded(await _discarder.DiscardAsync(socket, bulk, ct));
                }

                // Read ahead past the tail: when the next frame is already queued its header comes in the same call.
                while (Buffered < TailSize)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(TailSize + HeaderReadAhead), SocketFlags.None, ct));
                }

                CompleteFrame(payloadLength);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The run is over; a partly read frame is simply not counted.
        }
        catch (SocketException ex)
        {
            Error ??= $"read: {ex.SocketErrorCode}";
        }
        catch (ObjectDisposedException)
        {
            Error ??= "read: socket closed";
        }
        catch (IOException ex)
        {
            Error ??= "read: " + ex.Message;
        }
        catch (InvalidDataException ex)
        {
            Error ??= "protocol: " + ex.Message;
        }
        catch (Exception ex)
        {
            // One viewer's surprise must not end the run for the others; it shows in the report instead.
            Error ??= $"internal: {ex.GetType().Name}: {ex.Message}";
        }
    }

    /// <summary>Sends a close frame (best effort) and releases the socket.</summary>
    public async Task CloseAsync(CancellationToken ct)
    {
        if (_socket is null)
        {
            return;
        }

        try
        {
            if (Connected && !_closeSent)
            {
                _closeSent = true;
                Span<byte> normalClosure = [0x03, 0xE8]; // 1000
                await SendControlAsync(BuildControl(0x8, normalClosure), ct);
            }

            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The server may already be gone; closing is courtesy, not measurement.
        }
        finally
        {
            _socket.Dispose();
        }
    }

    /// <summary>The kernel's view of the TCP connection, without reading from it (for stalled viewers).</summary>
    public (string State, bool StillConnected, long UnreadBytes) ProbeConnection()
    {
        if (_socket is null || !Connected)
        {
            return ("NEVER_CONNECTED", false, 0);
        }

        try
        {
            long unread = _socket.Available;
            if (OperatingSystem.IsLinux())
            {
                // struct tcp_info starts with u8 tcpi_state; the kernel copies only as much as asked for.
                Span<byte> info = stackalloc byte[8];
                if (_socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info) >= 1)
                {
                    var state = info[0] switch
                    {
                        1 => "ESTABLISHED",
                        4 => "FIN_WAIT1",
                        5 => "FIN_WAIT2",
                        6 => "TIME_WAIT",
                        7 => "CLOSE",
                        8 => "CLOSE_WAIT",
                        9 => "LAST_ACK",
                        11 => "CLOSING",
                        var other => $"STATE_{other}",
                    };
                    return (state, info[0] == 1, unread);
                }
            }

            var closed = _socket.Poll(0, SelectMode.SelectRead) && unread == 0;
            return (closed ? "CLOSED" : "OPEN", !closed, unread);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return ("ERROR", false, 0);
        }
    }

    /// <summary>Records a failure that happened before <see cref="ConnectAsync"/> could run.</summary>
    public void MarkFailed(string error) => Error ??= error;

    public void Dispose() => _socket?.Dispose();

    private bool Fail(string error)
    {
        Error = error;
        _socket?.Dispose();
        return false;
    }

    /// <summary>Reads the response head into the buffer; returns its length, -1 on EOF, -2 when it does not fit.</summary>
    private async Task<int> ReceiveResponseHeadAsync(CancellationToken ct)
    {
        for (var pass = 0; pass < BufferSize; pass++)
        {
            if (_end == _buffer.Length)
            {
                return -2;
            }

            var n = await _socket!.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct);
            if (n == 0)
            {
                return -1;
            }

            var searchFrom = Math.Max(0, _end - 3);
            _end += n;
            var at = _buffer.AsSpan(searchFrom, _end - searchFrom).IndexOf("\r\n\r\n"u8);
            if (at >= 0)
            {
                return searchFrom + at + 4;
            }
        }

        return -2;
    }

    private static string? CheckResponse(string head, string key)
    {
        var lines = head.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var status = lines.Length > 0 ? lines[0] : "";
        var parts = status.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1] != "101")
        {
            return $"expected 101, got \"{status}\"";
        }

        string? upgrade = null, connection = null, accept = null, extensions = null;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
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

    private int Buffered => _end - _start;

    /// <summary>Length of the frame header whose first two bytes are buffered.</summary>
    private int HeaderLength() => (_buffer[_start + 1] & 0x7F) switch { 127 => 10, 126 => 4, _ => 2 };

    /// <summary>Validates and consumes a buffered frame header.</summary>
    private (int Opcode, bool Fin, long PayloadLength) ConsumeHeader(int headerLength)
    {
        var b0 = _buffer[_start];
        var b1 = _buffer[_start + 1];
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
            10 => BinaryPrimitives.ReadInt64BigEndian(_buffer.AsSpan(_start + 2)),
            4 => BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 2)),
            _ => b1 & 0x7F,
        };
        if (payloadLength is < 0 or > MaxPayloadBytes)
        {
            throw new InvalidDataException($"payload length {payloadLength} out of range");
        }

        _start += headerLength;
        return (b0 & 0x0F, (b0 & 0x80) != 0, payloadLength);
    }

    private void ConsumeProbe()
    {
        var probe = _buffer.AsSpan(_start, ProbeSize);
        _probeMagicOk = probe[..4].SequenceEqual("FOUT"u8);
        _probeCounter = BinaryPrimitives.ReadUInt32LittleEndian(probe[4..]);
        _probeCaptureUs = (long)BinaryPrimitives.ReadUInt64LittleEndian(probe[8..]);
        _probeWidth = BinaryPrimitives.ReadUInt16LittleEndian(probe[16..]);
        _probeHeight = BinaryPrimitives.ReadUInt16LittleEndian(probe[18..]);
        _probeSize = BinaryPrimitives.ReadUInt32LittleEndian(probe[20..]);
        _start += ProbeSize;
    }

    /// <summary>Called once the 4-byte tail is buffered: the message's last byte has arrived.</summary>
    private void CompleteFrame(long payloadLength)
    {
        var arrivedUs = (DateTime.UtcNow.Ticks - UnixEpochTicks) / 10;
        var arrived = Stopwatch.GetTimestamp();
        var tail = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start));
        _start += TailSize;

        TotalFrames++;
        var inWindow = _window.Contains(arrived);
        if (inWindow)
        {
            FramesInWindow++;
            BytesInWindow += payloadLength;
        }

        if (!_probeMagicOk || _probeSize != payloadLength)
        {
            // Without a trustworthy header the counter and capture time mean nothing.
            if (inWindow)
            {
                BadProbes++;
            }

            return;
        }

        var counter = _probeCounter;
        Width = _probeWidth;
        Height = _probeHeight;
        PayloadLength = payloadLength;
        if (inWindow)
        {
            if (tail != counter)
            {
                Torn++;
            }

            if (_lastCounter != 0)
            {
                if (counter > _lastCounter)
                {
                    Skipped += counter - _lastCounter - 1;
                }
                else
                {
                    OutOfOrder++;
                }
            }

            RecordLatency(arrivedUs - _probeCaptureUs);
        }

        // Only forward progress moves the reference, so one stray old frame is not followed by a phantom skip.
        if (counter > _lastCounter)
        {
            _lastCounter = counter;
        }
    }

    /// <summary>Control frames and anything that is not a video frame (rare, so allocation here does not matter); false once closed.</summary>
    private async Task<bool> HandleOtherMessageAsync(int opcode, bool fin, long payloadLength, CancellationToken ct)
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
                var pong = BuildControl(0xA, _buffer.AsSpan(_start, (int)payloadLength));
                _start += (int)payloadLength;
                await SendControlAsync(pong, ct);
                PingsAnswered++;
                return true;
            default:
                // Pongs, text, fragments, or binary frames too short to carry a probe: not video, so skip them.
                if (opcode != 0xA)
                {
                    UnexpectedMessages++;
                }

                var remaining = ConsumeBuffered(payloadLength);
                while (remaining > 0)
                {
                    remaining -= Discarded(await _discarder.DiscardAsync(_socket!, remaining, ct));
                }

                return true;
        }
    }

    private void RecordLatency(long latencyUs)
    {
        _latencyCandidates++;
        _latencySumUs += latencyUs;
        _latencyMaxUs = Math.Max(_latencyMaxUs, latencyUs);
        var sample = (int)Math.Clamp(latencyUs, int.MinValue, int.MaxValue);
        if (_sampleCount < _latencySamples.Length)
        {
            _latencySamples[_sampleCount++] = sample;
        }
        else if (_latencySamples.Length > 0)
        {
            // Reservoir sampling (algorithm R): once full, every frame still has the same chance to be kept.
            var slot = _sampleRandom.NextInt64(_latencyCandidates);
            if (slot < _latencySamples.Length)
            {
                _latencySamples[slot] = sample;
            }
        }
    }

    private async Task HandleCloseAsync(int payloadLength, CancellationToken ct)
    {
        await FillAsync(payloadLength, payloadLength, ct);
        var payload = _buffer.AsSpan(_start, payloadLength);
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
            sent += await _socket!.SendAsync(_sendBuffer.AsMemory(sent, length - sent), SocketFlags.None, ct);
        }
    }

    private async Task SendAllAsync(byte[] data, CancellationToken ct)
    {
        var sent = 0;
        for (var pass = 0; pass < 64 && sent < data.Length; pass++)
        {
            sent += await _socket!.SendAsync(data.AsMemory(sent), SocketFlags.None, ct);
        }

        if (sent < data.Length)
        {
            throw new IOException("could not send the handshake request");
        }
    }

    /// <summary>Ensures <paramref name="need"/> bytes are buffered (rare paths only; the frame path inlines this).</summary>
    private async Task FillAsync(int need, int want, CancellationToken ct)
    {
        // Each receive returns at least one byte, so this runs at most `need` times.
        while (Buffered < need)
        {
            Filled(await _socket!.ReceiveAsync(FreeSpace(want), SocketFlags.None, ct));
        }
    }

    /// <summary>The free part of the buffer to receive into, sized so that at most <paramref name="want"/> bytes end up buffered.</summary>
    private Memory<byte> FreeSpace(int want)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_buffer.Length - _start < want)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        return _buffer.AsMemory(_end, _start + want - _end);
    }

    private void Filled(int received)
    {
        if (received <= 0)
        {
            throw new IOException("connection closed by server without a close frame");
        }

        _end += received;
    }

    private static int Discarded(int dropped) => dropped > 0 ? dropped : throw new IOException("connection closed by server inside a frame");

    /// <summary>Consumes up to <paramref name="count"/> already-buffered bytes and returns how many are still to drop from the socket.</summary>
    private long ConsumeBuffered(long count)
    {
        var buffered = (int)Math.Min(Buffered, count);
        _start += buffered;
        return count - buffered;
    }
}
