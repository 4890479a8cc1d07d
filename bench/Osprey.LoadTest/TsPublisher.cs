using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Osprey.LoadTest;

/// <summary>
/// Publishes a <see cref="TsSource"/> as ffmpeg does: one endless chunked HTTP POST to <c>/ts/{feed}</c>, each write
/// one HTTP chunk, paced at real time, the file looped. Continuity counters are rewritten so that the loop is
/// seamless (a viewer checks them), and after each write's packets comes a marker null packet (see
/// <see cref="TsPackets.WriteMarker"/>) with the send time and the stream offset, in the same chunk.
/// </summary>
/// <remarks>
/// The payload is the file's packets as they are, except the counters; clocks (PCR, PTS) jump back at each loop,
/// which a decoder resynchronises on and the server does not look at.
/// </remarks>
internal sealed class TsPublisher : IDisposable
{
    private const int ResponseBufferSize = 1024;

    private readonly TsSource _source;
    private readonly Uri _url;
    private readonly uint _runId;
    private readonly bool _markers;
    private readonly MeasurementWindow? _window;
    private readonly byte[] _send;
    private readonly byte[] _counters = new byte[TsPackets.NullPid + 1];
    private readonly byte[] _response = new byte[ResponseBufferSize];
    private Socket? _socket;
    private long _offset;

    public TsPublisher(TsSource source, Uri url, uint runId, bool markers, MeasurementWindow? window)
    {
        _source = source;
        _url = url;
        _runId = runId;
        _markers = markers;
        _window = window;
        // "{size:x}\r\n" + packets + marker + "\r\n"
        _send = new byte[16 + ((source.MaxWritePackets + 1) * TsPackets.Size) + 2];
        _counters.AsSpan().Fill(0xFF);
    }

    public bool Connected { get; private set; }

    /// <summary>Why publishing stopped before the end of the run (a refusal, a closed connection), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Stream bytes sent (TS packets, markers included; not the chunk framing).</summary>
    public long Bytes => Interlocked.Read(ref _offset);

    public long Writes { get; private set; }

    public long Markers { get; private set; }

    /// <summary>Stream bytes sent inside the measurement window.</summary>
    public long BytesInWindow { get; private set; }

    public long WritesInWindow { get; private set; }

    /// <summary>Latest send after its due time in the window, in milliseconds (how well the publisher kept real time).</summary>
    public double MaxLateMs { get; private set; }

    /// <summary>Writes in the window sent more than 10 ms after they were due.</summary>
    public long LateWrites { get; private set; }

    /// <summary>Connects and sends the request head; on failure sets <see cref="Error"/> and returns false.</summary>
    public async Task<bool> ConnectAsync(EndPoint endpoint, CancellationToken ct)
    {
        try
        {
            _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await _socket.ConnectAsync(endpoint, ct);
            var head = Encoding.ASCII.GetBytes(
                $"POST {_url.PathAndQuery} HTTP/1.1\r\nHost: {_url.Authority}\r\nUser-Agent: osprey-load\r\nAccept: */*\r\n" +
                "Content-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n");
            await SendAllAsync(head, head.Length, ct);
            Connected = true;
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            Error = $"publisher connect: {(ex is SocketException s ? s.SocketErrorCode.ToString() : ex.Message)}";
            return false;
        }
    }

    /// <summary>
    /// Publishes until <paramref name="ct"/> is cancelled or <paramref name="limit"/> has passed; a response from the
    /// server (it only answers to refuse) or a send error ends it with <see cref="Error"/> set.
    /// </summary>
    public async Task RunAsync(TimeSpan limit, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(limit);
        var watch = WatchResponseAsync(stop);
        try
        {
            await PublishAsync(limit, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // End of the run (or the server answered, which the watcher reports).
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            Error ??= $"publisher send: {(ex is SocketException s ? s.SocketErrorCode.ToString() : ex.Message)}";
        }
        finally
        {
            await stop.CancelAsync();
            await watch;
        }
    }

    /// <summary>Ends the upload (the last chunk), best effort.</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        if (_socket is null || !Connected)
        {
            return;
        }

        try
        {
            await _socket.SendAsync("0\r\n\r\n"u8.ToArray(), SocketFlags.None, ct);
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The server may be gone; finishing is courtesy.
        }
    }

    public void Dispose() => _socket?.Dispose();

    private async Task PublishAsync(TimeSpan limit, CancellationToken ct)
    {
        var socket = _socket ?? throw new InvalidOperationException("not connected");
        var started = Stopwatch.GetTimestamp();
        var writesPerLoop = _source.WriteCount;
        // Bounded: the run's limit at the file's pace, with room for catching up.
        var maxWrites = (long)((limit.TotalSeconds / _source.LoopSeconds) + 2) * writesPerLoop;
        for (long n = 0; n < maxWrites && !ct.IsCancellationRequested; n++)
        {
            var loop = n / writesPerLoop;
            var index = (int)(n % writesPerLoop);
            var due = (loop * _source.LoopSeconds) + _source.WriteDue[index];
            var wait = due - Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (wait > 0.0005)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait), ct);
            }

            var length = BuildChunk(index, out var markerAt);
            var now = Stopwatch.GetTimestamp();
            var inWindow = _window?.Contains(now) == true;
            if (inWindow)
            {
                var lateMs = (Stopwatch.GetElapsedTime(started, now).TotalSeconds - due) * 1000;
                MaxLateMs = Math.Max(MaxLateMs, lateMs);
                if (lateMs > 10)
                {
                    LateWrites++;
                }
            }

            var streamBytes = (_source.WritePackets(index) + (_markers ? 1 : 0)) * TsPackets.Size;
            if (_markers)
            {
                TsPackets.WriteMarker(_send.AsSpan(markerAt, TsPackets.Size), _runId, Markers + 1, now, _offset + streamBytes);
                Markers++;
            }

            await SendAllAsync(_send, length, ct);
            Interlocked.Add(ref _offset, streamBytes);
            Writes++;
            if (inWindow)
            {
                BytesInWindow += streamBytes;
                WritesInWindow++;
            }
        }
    }

    /// <summary>Fills the send buffer with write <paramref name="index"/> as one HTTP chunk; returns its length.</summary>
    private int BuildChunk(int index, out int markerAt)
    {
        var packets = _source.WritePackets(index);
        var size = (packets + (_markers ? 1 : 0)) * TsPackets.Size;
        var at = Encoding.ASCII.GetBytes(size.ToString("x", CultureInfo.InvariantCulture) + "\r\n", _send);
        var data = _source.Packets.AsSpan(_source.WriteStarts[index] * TsPackets.Size, packets * TsPackets.Size);
        var target = _send.AsSpan(at, data.Length);
        data.CopyTo(target);
        for (var p = 0; p < packets; p++)
        {
            RewriteCounter(target.Slice(p * TsPackets.Size, TsPackets.Size));
        }

        at += data.Length;
        markerAt = at;
        if (_markers)
        {
            at += TsPackets.Size;
        }

        _send[at++] = (byte)'\r';
        _send[at++] = (byte)'\n';
        return at;
    }

    /// <summary>Continues each PID's counter from what was sent before, so the loop back to the file's start is seamless.</summary>
    private void RewriteCounter(Span<byte> packet)
    {
        var pid = TsPackets.Pid(packet);
        if (pid == TsPackets.NullPid || TsPackets.AdaptationFieldControl(packet) == 0)
        {
            return;
        }

        var last = _counters[pid];
        var counter = last == 0xFF
            ? TsPackets.ContinuityCounter(packet)
            : TsPackets.HasPayload(packet) ? (last + 1) & 0x0F : last;
        TsPackets.SetContinuityCounter(packet, counter);
        _counters[pid] = (byte)counter;
    }

    private async Task SendAllAsync(byte[] data, int length, CancellationToken ct)
    {
        var sent = 0;
        // Each send moves at least one byte or throws.
        for (var pass = 0; pass < length && sent < length; pass++)
        {
            var n = await _socket!.SendAsync(data.AsMemory(sent, length - sent), SocketFlags.None, ct);
            if (n <= 0)
            {
                throw new IOException("send made no progress");
            }

            sent += n;
        }
    }

    /// <summary>The server answers an ingest only to refuse it or when it ends: any answer stops publishing.</summary>
    private async Task WatchResponseAsync(CancellationTokenSource stop)
    {
        try
        {
            var n = await _socket!.ReceiveAsync(_response, SocketFlags.None, stop.Token);
            if (!stop.IsCancellationRequested)
            {
                var text = n > 0 ? Encoding.ASCII.GetString(_response, 0, n) : "";
                var status = text.Split("\r\n", 2)[0];
                var body = text.Contains("\r\n\r\n", StringComparison.Ordinal) ? text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..].Trim() : "";
                Error ??= n > 0 ? $"publisher: server answered \"{status}\"{(body.Length > 0 ? $": {body}" : "")}" : "publisher: server closed the connection";
                await stop.CancelAsync();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The run ended, or the send path reports the broken connection.
        }
    }
}
