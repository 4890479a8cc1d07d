using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Server.Http;

namespace Osprey.Server.Outputs.Mjpeg;

/// <summary>
/// One MJPEG viewer: <c>multipart/x-mixed-replace</c>, one part per frame with Content-Type and Content-Length,
/// latest-frame semantics.
/// </summary>
/// <remarks>
/// <para>Chrome shows a part only once the next boundary arrives (crbug 527446), so each frame is followed at
/// once by the boundary and the next part's Content-Type ("advance headers", as uStreamer calls them); the
/// next part's Content-Length follows with its frame, the only moment it is known.</para>
/// <para>Sending: after Kestrel has sent the response head (chunked), every part goes out as one HTTP chunk
/// written straight to the connection's socket in one vectored send (<see cref="ConnectionWriter"/>): [chunk
/// size + part headers][the shared JPEG][boundary + next Content-Type + chunk end], so the JPEG is never copied
/// per viewer. Kestrel writes nothing more until the handler returns, and then only the last chunk, so the
/// framing stays valid. Over TLS, or without a socket, parts go through the response body instead, and Kestrel
/// adds the chunk framing.</para>
/// </remarks>
internal sealed class MjpegViewer : IDisposable
{
    public const string Boundary = "ospreyframe";

    // The part's end, the boundary and the next part's first header, sent right after each frame.
    private static readonly byte[] s_trailer = Encoding.ASCII.GetBytes($"\r\n--{Boundary}\r\nContent-Type: image/jpeg\r\n");
    private static readonly byte[] s_trailerEndingChunk = [.. s_trailer, (byte)'\r', (byte)'\n'];
    private static readonly byte[] s_opening = Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Type: image/jpeg\r\n");
    private static readonly byte[] s_openingChunk = Encoding.ASCII.GetBytes($"{s_opening.Length:x}\r\n--{Boundary}\r\nContent-Type: image/jpeg\r\n\r\n");

    // Room in front of the part headers for the chunk-size line ("ffffffff\r\n" at most).
    private const int ChunkPrefixRoom = 10;

    private readonly HttpContext _context;
    private readonly Feed _feed;
    private readonly byte[] _head = new byte[160];
    private readonly ViewerAdmission.Lease? _place;
    private ConnectionWriter? _writer;

    private MjpegViewer(HttpContext context, Feed feed, ViewerAdmission.Lease? place)
    {
        _context = context;
        _place = place;
        _feed = feed;
    }

    public static async Task ServeAsync(HttpContext context, Feed feed, CancellationToken serverStopping)
    {
        var (admitted, lease) = await ViewerAdmission.AdmitAsync(context, feed, OutputProtocol.Mjpeg);
        using var place = lease;
        if (!admitted)
        {
            return;
        }

        using var viewer = new MjpegViewer(context, feed, place);
        await viewer.RunAsync(serverStopping);
    }

    public void Dispose() => _writer?.Dispose();

    private async Task RunAsync(CancellationToken serverStopping)
    {
        var response = _context.Response;
        response.ContentType = $"multipart/x-mixed-replace; boundary={Boundary}";
        response.Headers.CacheControl = "no-store, no-cache, must-revalidate, max-age=0";
        response.Headers.Pragma = "no-cache";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        if (HeadRequests.IsHead(_context))
        {
            // The head only: no reader (it would start the feed's JPEG encoder) and no parts.
            return;
        }

        using var reader = _feed.OpenReader();
        _context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(serverStopping, _context.RequestAborted);
        using var registration = stop.Token.UnsafeRegister(static state => ((FeedReader)state!).Close(), reader);
        try
        {
            await response.StartAsync(stop.Token);
            await response.Body.FlushAsync(stop.Token);
            // Direct sends write the chunk framing themselves: only on a chunked response, and only now that the
            // head is in the kernel.
            var chunked = response.Headers.TransferEncoding.ToString().Contains("chunked", StringComparison.OrdinalIgnoreCase);
            _writer = ConnectionWriter.Create(_context, response.Body, allowDirect: chunked);
            if (_writer.IsDirect)
            {
                reader.SignalOnFanOutThread(); // each part is one non-blocking send: from the fan-out thread
            }

            if (!await _writer.WriteAsync(_writer.IsDirect ? s_openingChunk : s_opening, default, default, stop.Token))
            {
                return;
            }

            while (await reader.WaitAsync())
            {
                if (!reader.TryTakeLatest(out Frame frame))
                {
                    continue;
                }

                using var lease = new FrameLease(frame);
                if (!await WritePartAsync(frame, stop.Token))
                {
                    return;
                }

                _place?.Sent(frame);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ConnectionAbortedException)
        {
            // The viewer left or the server is stopping.
        }

        // The loop may have ended on a fan-out thread: what follows (Kestrel ending the response) is not a send.
        await Task.Yield();

        if (serverStopping.IsCancellationRequested)
        {
            _context.Abort(); // no final chunk: the stream simply ends, as it does when a camera goes away
        }
    }

    private ValueTask<bool> WritePartAsync(Frame frame, CancellationToken cancellationToken)
    {
        var seconds = frame.CaptureTimeMicros / 1_000_000;
        var micros = frame.CaptureTimeMicros % 1_000_000;
        // Formatted into the viewer's own buffer: no allocation per part.
        if (!Utf8.TryWrite(
                _head.AsSpan(ChunkPrefixRoom),
                CultureInfo.InvariantCulture,
                $"Content-Length: {frame.Length}\r\nX-Timestamp: {seconds}.{micros:D6}\r\n\r\n",
                out var headLength))
        {
            throw new InvalidOperationException("MJPEG part headers do not fit their buffer.");
        }

        var writer = _writer!;
        if (!writer.IsDirect)
        {
            // Through Kestrel: it adds the chunk framing itself (and copies the bytes into its pipe).
            return writer.WriteAsync(new ArraySegment<byte>(_head, ChunkPrefixRoom, headLength), frame.Memory, s_trailer, cancellationToken);
        }

        // One HTTP chunk: "<hex size>\r\n" + part headers + JPEG + trailer + "\r\n".
        Span<byte> sizeLine = stackalloc byte[ChunkPrefixRoom];
        Utf8.TryWrite(sizeLine, CultureInfo.InvariantCulture, $"{headLength + frame.Length + s_trailer.Length:x}\r\n", out var sizeLength);
        var start = ChunkPrefixRoom - sizeLength;
        sizeLine[..sizeLength].CopyTo(_head.AsSpan(start));
        var head = new ArraySegment<byte>(_head, start, sizeLength + headLength);
        return writer.WriteAsync(head, frame.Memory, s_trailerEndingChunk, cancellationToken);
    }
}
