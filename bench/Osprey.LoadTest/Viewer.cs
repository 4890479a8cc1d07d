using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Osprey.LoadTest;

/// <summary>
/// One viewer on a raw TCP socket: connection, per-frame bookkeeping (counters, latency and size reservoirs) and
/// the stalled-viewer probe. Subclasses speak the protocol: <see cref="RawWebSocketViewer"/> (raw and JPEG
/// WebSocket messages), <see cref="Mp4WebSocketViewer"/> (fMP4 media segments) and <see cref="MjpegViewer"/>
/// (multipart HTTP).
/// </summary>
/// <remarks>
/// Steady-state reading allocates nothing: each subclass reads in a single async method that awaits only the
/// socket's reusable ValueTasks, so its state machine is allocated once per viewer, and every frame is parsed in
/// place in the fixed <see cref="Buffer"/>.
/// </remarks>
internal abstract class Viewer : IDisposable
{
    /// <summary>Size of the probe header (see <c>Osprey.Media.ProbeHeader</c>).</summary>
    public const int ProbeSize = 32;

    /// <summary>Size of the per-viewer receive buffer; also bounds the response head.</summary>
    protected const int BufferSize = 4096;

    /// <summary>Anything larger is a framing error, not video.</summary>
    protected const long MaxPayloadBytes = 256L * 1024 * 1024;

    /// <summary>SOI, then the COM marker and its length (2 + 32), in front of the probe of every JPEG Osprey sends.</summary>
    protected static ReadOnlySpan<byte> JpegProbePrefix => [0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x22];

    private const long UnixEpochTicks = 621_355_968_000_000_000;

    private readonly int[] _latencySamples;
    private readonly int[] _sizeSamples;
    private readonly Random _sampleRandom;
    private readonly MeasurementWindow _window;

    private uint _lastCounter;
    private int _latencySampleCount;
    private int _sizeSampleCount;
    private long _latencyCandidates;
    private long _latencyMaxUs = long.MinValue;
    private long _latencySumUs;
    private long _unprobedSizeCandidates;

    // Probe header of the frame being read.
    private bool _probeMagicOk;
    private uint _probeCounter;
    private long _probeCaptureUs;
    private int _probeWidth;
    private int _probeHeight;
    private uint _probeSize;

    protected Viewer(int id, bool stalled, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window, int bufferSize = BufferSize)
    {
        Buffer = new byte[bufferSize];
        Id = id;
        Stalled = stalled;
        _latencySamples = new int[stalled ? 0 : latencyCapacity];
        _sizeSamples = new int[stalled ? 0 : Math.Min(sizeCapacity, latencyCapacity)];
        _sampleRandom = new Random(id);
        Discarder = discarder;
        _window = window;
    }

    public int Id { get; }

    public bool Stalled { get; }

    public bool Connected { get; protected set; }

    /// <summary>Why the viewer failed to connect or stopped reading before the end of the run; null if it did neither.</summary>
    public string? Error { get; protected set; }

    /// <summary>Close status code the server sent, if it closed the connection (WebSocket only).</summary>
    public int? ServerCloseCode { get; protected set; }

    public double ConnectMilliseconds { get; protected set; }

    /// <summary>The read loop, started once the handshake succeeds (never for stalled viewers).</summary>
    public Task? ReadLoop { get; set; }

    public long FramesInWindow { get; private set; }

    /// <summary>Frames with a usable probe captured inside the window (see <see cref="MeasurementWindow.ContainsCapture"/>).</summary>
    public long FramesCapturedInWindow { get; private set; }

    public long BytesInWindow { get; private set; }

    public long TotalFrames { get; private set; }

    public long Skipped { get; private set; }

    public long Torn { get; private set; }

    public long OutOfOrder { get; private set; }

    public long BadProbes { get; private set; }

    public long UnexpectedMessages { get; protected set; }

    public long PingsAnswered { get; protected set; }

    public int Width { get; private set; }

    public int Height { get; private set; }

    /// <summary>Size of the last well-probed frame, in bytes.</summary>
    public long PayloadLength { get; private set; }

    /// <summary>Smallest well-probed frame in the window, in bytes; <see cref="long.MaxValue"/> when none.</summary>
    public long MinFrameBytes { get; private set; } = long.MaxValue;

    /// <summary>Largest well-probed frame in the window, in bytes; 0 when none.</summary>
    public long MaxFrameBytes { get; private set; }

    /// <summary>How the connection frames its stream (e.g. chunked or not), for the report; null before the handshake.</summary>
    public virtual string? TransportDetail => null;

    public ReadOnlySpan<int> LatencySamples => _latencySamples.AsSpan(0, _latencySampleCount);

    /// <summary>Reservoir of well-probed frame sizes in the window.</summary>
    public ReadOnlySpan<int> SizeSamples => _sizeSamples.AsSpan(0, _sizeSampleCount);

    public long LatencyMaxUs => _latencyMaxUs;

    public long LatencySumUs => _latencySumUs;

    public long LatencyCount => _latencyCandidates;

    /// <summary>The connected socket; null before <see cref="ConnectAsync"/>.</summary>
    protected Socket? Socket { get; set; }

    /// <summary>The measurement window shared by all viewers.</summary>
    protected MeasurementWindow Window => _window;

    /// <summary>Shared discarder for the bulk of each frame.</summary>
    protected PayloadDiscarder Discarder { get; }

    /// <summary>Fixed receive buffer: response head, frame headers, probe and tail bytes only (MPEG-TS: every byte, as jsmpeg reads them).</summary>
    protected byte[] Buffer { get; }

    /// <summary>End of the bytes <see cref="ReceiveResponseHeadAsync"/> left in the buffer (the head plus any stream bytes after it).</summary>
    protected int BufferedAfterHead { get; private set; }

    /// <summary>Creates the viewer for <paramref name="mode"/> (never <see cref="StreamMode.Auto"/>).</summary>
    public static Viewer Create(StreamMode mode, int id, bool stalled, LoadOptions options, PayloadDiscarder discarder, MeasurementWindow window, uint runId = 0) => mode switch
    {
        StreamMode.Mjpeg => new MjpegViewer(id, stalled, options.LatencySamplesPerViewer, options.SizeSamplesPerViewer, discarder, window),
        StreamMode.Mp4 => new Mp4WebSocketViewer(id, stalled, Mp4WebSocketViewer.IsBerryMseUrl(options.Url), options.LatencySamplesPerViewer, options.SizeSamplesPerViewer, discarder, window),
        StreamMode.Ts => new TsWebSocketViewer(id, stalled, runId, options.LatencySamplesPerViewer, options.SizeSamplesPerViewer, discarder, window),
        StreamMode.Jpeg => new RawWebSocketViewer(id, stalled, jpeg: true, options.LatencySamplesPerViewer, options.SizeSamplesPerViewer, discarder, window),
        _ => new RawWebSocketViewer(id, stalled, jpeg: false, options.LatencySamplesPerViewer, options.SizeSamplesPerViewer, discarder, window),
    };

    /// <summary>Connects and performs the opening request; on failure sets <see cref="Error"/> and returns false.</summary>
    public async Task<bool> ConnectAsync(EndPoint endpoint, string hostHeader, string target, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            Socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await Socket.ConnectAsync(endpoint, ct);
            var problem = await HandshakeAsync(hostHeader, target, ct);
            if (problem is not null)
            {
                return Fail(problem);
            }

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
        catch (IOException ex)
        {
            return Fail("connect: " + ex.Message);
        }
    }

    /// <summary>Reads frames until <paramref name="ct"/> is cancelled, the server closes, or the stream breaks.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await ReadFramesAsync(Socket!, ct);
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

    /// <summary>Says goodbye (best effort) and releases the socket.</summary>
    public async Task CloseAsync(CancellationToken ct)
    {
        if (Socket is null)
        {
            return;
        }

        try
        {
            if (Connected)
            {
                await SayGoodbyeAsync(ct);
            }

            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The server may already be gone; closing is courtesy, not measurement.
        }
        finally
        {
            Socket.Dispose();
        }
    }

    /// <summary>The kernel's view of the TCP connection, without reading from it (for stalled viewers).</summary>
    public (string State, bool StillConnected, long UnreadBytes) ProbeConnection()
    {
        if (Socket is null || !Connected)
        {
            return ("NEVER_CONNECTED", false, 0);
        }

        try
        {
            long unread = Socket.Available;
            if (OperatingSystem.IsLinux())
            {
                // struct tcp_info starts with u8 tcpi_state; the kernel copies only as much as asked for.
                Span<byte> info = stackalloc byte[8];
                if (Socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info) >= 1)
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

            var closed = Socket.Poll(0, SelectMode.SelectRead) && unread == 0;
            return (closed ? "CLOSED" : "OPEN", !closed, unread);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return ("ERROR", false, 0);
        }
    }

    /// <summary>Records a failure that happened before <see cref="ConnectAsync"/> could run.</summary>
    public void MarkFailed(string error) => Error ??= error;

    public void Dispose() => Socket?.Dispose();

    /// <summary>Sends the request and checks the answer (a stalled MJPEG viewer only sends); returns a problem or null.</summary>
    protected abstract Task<string?> HandshakeAsync(string hostHeader, string target, CancellationToken ct);

    /// <summary>The frame loop; exceptions end the viewer and are reported by <see cref="RunAsync"/>.</summary>
    protected abstract Task ReadFramesAsync(Socket socket, CancellationToken ct);

    /// <summary>Protocol goodbye before the socket is shut down (a WebSocket close frame); nothing by default.</summary>
    protected virtual Task SayGoodbyeAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Reads a response head into <see cref="Buffer"/> from offset 0; returns its length, -1 on EOF, -2 when it does not fit.</summary>
    protected async Task<int> ReceiveResponseHeadAsync(int end, CancellationToken ct)
    {
        for (var pass = 0; pass < BufferSize; pass++)
        {
            if (end == Buffer.Length)
            {
                return -2;
            }

            var n = await Socket!.ReceiveAsync(Buffer.AsMemory(end), SocketFlags.None, ct);
            if (n == 0)
            {
                return -1;
            }

            var searchFrom = Math.Max(0, end - 3);
            end += n;
            var at = Buffer.AsSpan(searchFrom, end - searchFrom).IndexOf("\r\n\r\n"u8);
            if (at >= 0)
            {
                BufferedAfterHead = end;
                return searchFrom + at + 4;
            }
        }

        return -2;
    }

    /// <summary>Splits a response head into its status line and (name, value) headers.</summary>
    protected static (string Status, List<(string Name, string Value)> Headers) ParseHead(string head)
    {
        var lines = head.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = new List<(string, string)>();
        foreach (var line in lines.AsSpan(Math.Min(1, lines.Length)))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }

        return (lines.Length > 0 ? lines[0] : "", headers);
    }

    /// <summary>The status code of an HTTP/1.x status line, or null when it is not one.</summary>
    protected static string? StatusCode(string status)
    {
        var parts = status.Split(' ', 3);
        return parts.Length >= 2 && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) ? parts[1] : null;
    }

    protected async Task SendAllAsync(byte[] data, CancellationToken ct)
    {
        var sent = 0;
        for (var pass = 0; pass < 64 && sent < data.Length; pass++)
        {
            sent += await Socket!.SendAsync(data.AsMemory(sent), SocketFlags.None, ct);
        }

        if (sent < data.Length)
        {
            throw new IOException("could not send the request");
        }
    }

    /// <summary>Reads the 32-byte probe header of the frame being read.</summary>
    protected void ReadProbe(ReadOnlySpan<byte> probe)
    {
        _probeMagicOk = probe[..4].SequenceEqual("FOUT"u8);
        _probeCounter = BinaryPrimitives.ReadUInt32LittleEndian(probe[4..]);
        _probeCaptureUs = (long)BinaryPrimitives.ReadUInt64LittleEndian(probe[8..]);
        _probeWidth = BinaryPrimitives.ReadUInt16LittleEndian(probe[16..]);
        _probeHeight = BinaryPrimitives.ReadUInt16LittleEndian(probe[18..]);
        _probeSize = BinaryPrimitives.ReadUInt32LittleEndian(probe[20..]);
    }

    /// <summary>Reads the probe of a JPEG from its first <c>6 + 32</c> bytes; false (and no probe) when the SOI + COM prefix is missing.</summary>
    protected bool ReadJpegProbe(ReadOnlySpan<byte> head)
    {
        if (!head.StartsWith(JpegProbePrefix))
        {
            _probeMagicOk = false;
            return false;
        }

        ReadProbe(head.Slice(JpegProbePrefix.Length, ProbeSize));
        return true;
    }

    /// <summary>The payload size the current probe declares.</summary>
    protected uint ProbeDeclaredSize => _probeSize;

    /// <summary>The counter of the current probe.</summary>
    protected uint ProbeCounter => _probeCounter;

    /// <summary>Books one frame whose last byte has just arrived.</summary>
    /// <param name="length">The frame's length in bytes (message payload or part body).</param>
    /// <param name="probeUsable">The probe header is trustworthy (magic, prefix; for raw frames also the declared size).</param>
    /// <param name="intact">The frame is whole (raw: tail counter matches; JPEG: declared size matches and it ends with EOI).</param>
    /// <returns>Whether the frame counted in the window, and the counter gap before it that was booked as skipped.</returns>
    protected (bool InWindow, long Skipped) CompleteFrame(long length, bool probeUsable, bool intact)
    {
        var arrivedUs = (DateTime.UtcNow.Ticks - UnixEpochTicks) / 10;
        var arrived = Stopwatch.GetTimestamp();

        TotalFrames++;
        var inWindow = _window.Contains(arrived);
        if (inWindow)
        {
            FramesInWindow++;
            BytesInWindow += length;
        }

        if (!probeUsable || !_probeMagicOk)
        {
            // Without a trustworthy header the counter and capture time mean nothing.
            if (inWindow)
            {
                BadProbes++;
            }

            return (inWindow, 0);
        }

        if (_window.ContainsCapture(_probeCaptureUs))
        {
            FramesCapturedInWindow++;
        }

        var counter = _probeCounter;
        Width = _probeWidth;
        Height = _probeHeight;
        PayloadLength = length;
        long skipped = 0;
        if (inWindow)
        {
            if (!intact)
            {
                Torn++;
            }

            if (_lastCounter != 0)
            {
                if (counter > _lastCounter)
                {
                    skipped = counter - _lastCounter - 1;
                    Skipped += skipped;
                }
                else
                {
                    OutOfOrder++;
                }
            }

            MinFrameBytes = Math.Min(MinFrameBytes, length);
            MaxFrameBytes = Math.Max(MaxFrameBytes, length);
            RecordSamples(arrivedUs - _probeCaptureUs, length);
        }

        // Only forward progress moves the reference, so one stray old frame is not followed by a phantom skip.
        if (counter > _lastCounter)
        {
            _lastCounter = counter;
        }

        return (inWindow, skipped);
    }

    /// <summary>Books one frame of a stream that carries no probe (no counter, no capture time): count, bytes and size only.</summary>
    /// <param name="length">The frame's length in bytes.</param>
    /// <param name="intact">The frame's own framing agrees with its length; false counts it as torn.</param>
    /// <returns>Whether the frame counted in the window.</returns>
    protected bool CompleteUnprobedFrame(long length, bool intact)
    {
        TotalFrames++;
        PayloadLength = length;
        if (!_window.Contains(Stopwatch.GetTimestamp()))
        {
            return false;
        }

        FramesInWindow++;
        BytesInWindow += length;
        if (!intact)
        {
            Torn++;
        }

        MinFrameBytes = Math.Min(MinFrameBytes, length);
        MaxFrameBytes = Math.Max(MaxFrameBytes, length);
        var size = (int)Math.Min(length, int.MaxValue);
        _unprobedSizeCandidates++;
        if (_sizeSampleCount < _sizeSamples.Length)
        {
            _sizeSamples[_sizeSampleCount++] = size;
        }
        else if (_sizeSamples.Length > 0)
        {
            // Reservoir sampling, as in RecordSamples, over the unprobed frames.
            var slot = _sampleRandom.NextInt64(_unprobedSizeCandidates);
            if (slot < _sizeSamples.Length)
            {
                _sizeSamples[slot] = size;
            }
        }

        return true;
    }

    /// <summary>Books a latency measured by the subclass (MPEG-TS: a marker packet's send time to its arrival), without a frame.</summary>
    protected void RecordLatency(long latencyUs)
    {
        _latencyCandidates++;
        _latencySumUs += latencyUs;
        _latencyMaxUs = Math.Max(_latencyMaxUs, latencyUs);
        var latency = (int)Math.Clamp(latencyUs, int.MinValue, int.MaxValue);
        if (_latencySampleCount < _latencySamples.Length)
        {
            _latencySamples[_latencySampleCount++] = latency;
        }
        else if (_latencySamples.Length > 0)
        {
            // Reservoir sampling, as in RecordSamples.
            var slot = _sampleRandom.NextInt64(_latencyCandidates);
            if (slot < _latencySamples.Length)
            {
                _latencySamples[slot] = latency;
            }
        }
    }

    protected bool Fail(string error)
    {
        Error = error;
        Socket?.Dispose();
        return false;
    }

    private void RecordSamples(long latencyUs, long length)
    {
        _latencyCandidates++;
        _latencySumUs += latencyUs;
        _latencyMaxUs = Math.Max(_latencyMaxUs, latencyUs);
        var latency = (int)Math.Clamp(latencyUs, int.MinValue, int.MaxValue);
        var size = (int)Math.Min(length, int.MaxValue);
        if (_latencySampleCount < _latencySamples.Length)
        {
            _latencySamples[_latencySampleCount++] = latency;
        }

        if (_sizeSampleCount < _sizeSamples.Length)
        {
            _sizeSamples[_sizeSampleCount++] = size;
        }

        if (_latencyCandidates > _sizeSamples.Length && _sizeSamples.Length > 0)
        {
            // Reservoir sampling (algorithm R): once full, every frame still has the same chance to be kept. One
            // draw serves both reservoirs: a slot below a reservoir's capacity is a uniform pick for that reservoir.
            var slot = _sampleRandom.NextInt64(_latencyCandidates);
            if (slot < _sizeSamples.Length)
            {
                _sizeSamples[slot] = size;
            }

            if (_latencyCandidates > _latencySamples.Length && slot < _latencySamples.Length)
            {
                _latencySamples[slot] = latency;
            }
        }
    }
}
