using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Osprey.Containers.Mp4;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// One WebSocket viewer of a feed in the latest read mode: each frame goes out as one binary message holding
/// the frame's bytes and nothing else.
/// </summary>
/// <remarks>
/// <para>Sending: the 10-byte frame header and the shared, pooled frame buffer go out in one vectored send
/// straight to the connection's socket (Kestrel exposes it through <see cref="IConnectionSocketFeature"/>), so
/// the per-viewer cost is the header and the kernel's copy. The managed WebSocket and Kestrel's output pipe
/// would each copy every payload once per viewer. Kestrel's transport is configured to hand the 101 response
/// to the kernel before <c>UpgradeAsync</c> returns (see <c>OspreyServer</c>), so no direct send can overtake
/// it. Over TLS, or without a socket, frames go through the upgraded stream instead.</para>
/// <para>Ownership: the send loop owns the socket's sending side and the reader; the receive loop owns the
/// upgraded stream's reading side and only tells the send loop, through flags and <see cref="SignalledReader.Wake"/>,
/// to answer pings and closes, so that control frames never interleave with a frame being sent.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The sender is disposed at the end of RunAsync, which owns the viewer's whole life.")]
internal sealed partial class WebSocketFrameViewer
{
    /// <summary>The most chunks queued for a byte-stream (MPEG-TS) viewer; see <see cref="FeedRegistry.StreamGroupOfPicturesFrames"/>.</summary>
    private const int StreamQueueFrames = FeedRegistry.StreamGroupOfPicturesFrames;

    private static readonly TimeSpan s_closeGrace = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan s_stalledAbortGrace = TimeSpan.FromSeconds(1);

    private readonly HttpContext _context;
    private readonly Feed _feed;
    private readonly ILogger _logger;
    private readonly byte[] _header = new byte[WebSocketFrames.MaxServerHeaderSize];
    private readonly byte[] _controlPayload = new byte[125];
    private readonly byte[] _pongPayload = new byte[125];
    private readonly ClientFrameParser _parser = new();
    private readonly ViewerFraming _framing;
    private readonly byte[] _prefix = new byte[BerryMseWriter.MoofSize];
    private IFrameReader? _reader;
    private int _headerVersionSent = -1;
    private uint _berryMseSequence;
    private Stream? _stream;
    private SocketFrameSender? _sender;
    private volatile int _pongLength = -1;
    private volatile bool _clientClosed;
    private volatile bool _clientGone;
    private ushort _clientCloseCode = 1000;
    private ushort _protocolErrorCode;
    private volatile bool _stopping;
    private volatile bool _finished;

    private WebSocketFrameViewer(HttpContext context, Feed feed, ILogger logger, ViewerFraming framing)
    {
        _context = context;
        _feed = feed;
        _logger = logger;
        _framing = framing;
    }

    /// <summary>Serves <paramref name="feed"/> to the WebSocket client of <paramref name="context"/> until either side ends.</summary>
    public static async Task ServeAsync(HttpContext context, Feed feed, ILogger logger, CancellationToken serverStopping, ViewerFraming framing = ViewerFraming.Frames)
    {
        if (!await WebSocketUpgrade.ValidateAsync(context))
        {
            return;
        }

        var viewer = new WebSocketFrameViewer(context, feed, logger, framing);
        await viewer.RunAsync(serverStopping);
    }

    private async Task RunAsync(CancellationToken serverStopping)
    {
        // Open the reader before the 101 so that the first frame is already latched (or queued) for this viewer.
        // Container streams are read in order from a key frame; pictures need only the newest frame.
        // A byte stream's chunks are network reads (tens to hundreds per group of pictures), not pictures: its queue
        // must hold a whole cached group of pictures, or a new viewer would overflow at once and wait for the next.
        using IFrameReader reader = _framing switch
        {
            ViewerFraming.Frames => _feed.OpenReader(),
            ViewerFraming.Stream => _feed.OpenOrderedReader(StreamQueueFrames),
            // BerryMSE's pages append each message at once with no queue ("still processing an appendBuffer" loses
            // a burst), and BerryMSE itself starts a client at the next IDR: so does this layout, at the live rate.
            ViewerFraming.BerryMse => _feed.OpenOrderedReader(startAtNextKeyFrame: true),
            _ => _feed.OpenOrderedReader(),
        };
        _reader = reader;
        try
        {
            _stream = await WebSocketUpgrade.AcceptAsync(_context);
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            Log.HandshakeFailed(_logger, _feed.Name, ex.Message);
            return; // the client left during the handshake
        }

        var socket = _context.Features.Get<IConnectionSocketFeature>()?.Socket;
        var overTls = _context.Features.Get<ITlsConnectionFeature>() is not null;
        if (socket is not null && !overTls)
        {
            _sender = new SocketFrameSender(socket);
        }

        Log.ViewerConnected(_logger, _feed.Name, _context.Connection.RemoteIpAddress?.ToString() ?? "?", _sender is not null);
        using var stopRegistration = serverStopping.UnsafeRegister(static state => ((WebSocketFrameViewer)state!).OnServerStopping(), this);
        var receiving = ReceiveLoopAsync();
        try
        {
            await SendLoopAsync(reader);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            _clientGone = true;
        }
        finally
        {
            reader.Close();
        }

        await FinishAsync(receiving);
        _finished = true;
        _sender?.Dispose();
        Log.ViewerDisconnected(_logger, _feed.Name, reader.Frames, reader.Skipped);
    }

    private async Task SendLoopAsync(IFrameReader reader)
    {
        while (await reader.WaitAsync())
        {
            if (reader.ConsumeWake())
            {
                var pong = _pongLength;
                if (pong >= 0)
                {
                    _pongLength = -1;
                    _pongPayload.AsSpan(0, pong).CopyTo(_controlPayload);
                    if (!await SendAsync(WebSocketOpcode.Pong, new ArraySegment<byte>(_controlPayload, 0, pong)))
                    {
                        return;
                    }
                }

                if (_clientClosed || _clientGone || _protocolErrorCode != 0)
                {
                    return;
                }
            }

            while (reader.TryTake(out Frame frame))
            {
                using var lease = new FrameLease(frame);
                if (!await SendFrameAsync(frame))
                {
                    _clientGone = true;
                    return;
                }

                if (_framing == ViewerFraming.Frames)
                {
                    break; // latest mode: one frame per wake, the newest
                }
            }
        }
    }

    /// <summary>
    /// Sends one frame as this viewer's framing wants it, preceded by the stream header when the frame belongs to a
    /// header version this viewer has not had yet. Per-viewer bytes are only the small prefix (or BerryMSE's
    /// patched moof); the frame's bytes go from the shared buffer.
    /// </summary>
    private async ValueTask<bool> SendFrameAsync(Frame frame)
    {
        if (_framing == ViewerFraming.Frames)
        {
            // Memory, not Segment: a V4L2 frame is mmap memory with no array (see SocketFrameSender).
            return await SendAsync(WebSocketOpcode.Binary, frame.Memory);
        }

        if (_framing == ViewerFraming.Stream)
        {
            // MPEG-TS: the programme tables (PAT/PMT) first and again when they change; TS is self-describing, so a
            // newer table than the chunk's is still right, and a feed without tables (jsmpeg needs none) plays too.
            if (frame.HeaderVersion != _headerVersionSent && _feed.Header is { } tables)
            {
                if (!await SendAsync(WebSocketOpcode.Binary, tables.InitSegment))
                {
                    return false;
                }

                _headerVersionSent = frame.HeaderVersion;
            }

            return await SendAsync(WebSocketOpcode.Binary, frame.Memory);
        }

        if (frame.HeaderVersion != _headerVersionSent)
        {
            var header = _feed.Header;
            if (header is null || header.Version != frame.HeaderVersion)
            {
                return true; // a fragment of a header this viewer cannot get any more: wait for the next one
            }

            if (_framing is ViewerFraming.Fmp4 or ViewerFraming.WebCodecs)
            {
                var text = _framing == ViewerFraming.Fmp4 ? header.MimeType : header.DecoderConfigJson ?? "{}";
                if (!await SendAsync(WebSocketOpcode.Text, new ArraySegment<byte>(Encoding.UTF8.GetBytes(text))))
                {
                    return false;
                }
            }

            if (_framing != ViewerFraming.WebCodecs &&
                !await SendAsync(WebSocketOpcode.Binary, new ArraySegment<byte>(header.InitSegment.ToArray())))
            {
                return false;
            }

            _headerVersionSent = header.Version;
        }

        // Container fragments are always muxer output in pooled arrays.
        var bytes = frame.Segment;
        switch (_framing)
        {
            case ViewerFraming.WebCodecs:
                {
                    // [u64 capture time µs][u8 flags: bit0 key frame][the AVCC sample: the fMP4 fragment's mdat payload]
                    var moofSize = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan());
                    BinaryPrimitives.WriteInt64BigEndian(_prefix, frame.CaptureTimeMicros);
                    _prefix[8] = frame.IsKeyFrame ? (byte)1 : (byte)0;
                    return await SendAsync(WebSocketOpcode.Binary, new ArraySegment<byte>(_prefix, 0, 9), bytes[(moofSize + 8)..]);
                }

            case ViewerFraming.BerryMse:
                // BerryMSE counts fragments per client: patch this viewer's copy of the 104-byte moof.
                bytes.AsSpan(0, BerryMseWriter.MoofSize).CopyTo(_prefix);
                BerryMseMuxer.PatchForViewer(_prefix, ++_berryMseSequence);
                return await SendAsync(WebSocketOpcode.Binary, new ArraySegment<byte>(_prefix, 0, BerryMseWriter.MoofSize), bytes[BerryMseWriter.MoofSize..]);
            default:
                return await SendAsync(WebSocketOpcode.Binary, bytes);
        }
    }

    private ValueTask<bool> SendAsync(WebSocketOpcode opcode, ArraySegment<byte> payload) =>
        SendAsync(opcode, payload, default);

    private async ValueTask<bool> SendAsync(WebSocketOpcode opcode, ArraySegment<byte> payload, ArraySegment<byte> more)
    {
        var headerLength = WebSocketFrames.WriteServerHeader(_header, opcode, payload.Count + more.Count);
        if (_sender is not null)
        {
            return await _sender.SendAsync(new ArraySegment<byte>(_header, 0, headerLength), payload, more) == SocketError.Success;
        }

        await _stream!.WriteAsync(_header.AsMemory(0, headerLength));
        await _stream.WriteAsync(payload.AsMemory());
        if (more.Count > 0)
        {
            await _stream.WriteAsync(more.AsMemory());
        }

        await _stream.FlushAsync();
        return true;
    }

    private async ValueTask<bool> SendAsync(WebSocketOpcode opcode, ReadOnlyMemory<byte> payload)
    {
        var headerLength = WebSocketFrames.WriteServerHeader(_header, opcode, payload.Length);
        if (_sender is not null)
        {
            return await _sender.SendAsync(new ArraySegment<byte>(_header, 0, headerLength), payload, default) == SocketError.Success;
        }

        await _stream!.WriteAsync(_header.AsMemory(0, headerLength));
        await _stream.WriteAsync(payload);
        await _stream.FlushAsync();
        return true;
    }

    private async Task ReceiveLoopAsync()
    {
        // Viewers send little (pings, a close): a small buffer per connection keeps thousands of them cheap.
        var buffer = new byte[512];
        try
        {
            while (!_clientClosed)
            {
                var read = await _stream!.ReadAsync(buffer);
                if (read == 0)
                {
                    _clientGone = true;
                    break;
                }

                if (!_parser.Parse(buffer.AsSpan(0, read), this, static (viewer, opcode, fin, payload) => viewer.OnClientFrame(opcode, payload)))
                {
                    _protocolErrorCode = _parser.ErrorCloseCode;
                    Log.ClientProtocolError(_logger, _feed.Name, _parser.Error ?? "?");
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or ConnectionAbortedException)
        {
            _clientGone = true;
        }
        finally
        {
            _reader?.Wake();
        }
    }

    private bool OnClientFrame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        switch (opcode)
        {
            case WebSocketOpcode.Ping:
                payload.CopyTo(_pongPayload);
                _pongLength = payload.Length;
                _reader?.Wake();
                return true;
            case WebSocketOpcode.Close:
                _clientCloseCode = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : (ushort)1000;
                _clientClosed = true;
                return false;
            default:
                // Viewers have nothing to say on a frame feed: data messages are read and ignored.
                return true;
        }
    }

    private async Task FinishAsync(Task receiving)
    {
        if (!_clientGone)
        {
            // Answer the client's close, or start the close handshake ourselves.
            var code = _protocolErrorCode != 0 ? _protocolErrorCode
                : _clientClosed ? EchoableCloseCode(_clientCloseCode)
                : (ushort)1001; // going away: the server is stopping or the feed ended
            var reason = _protocolErrorCode != 0 ? _parser.Error ?? "" : _clientClosed ? "" : _stopping ? "server stopping" : "feed ended";
            await SendCloseAsync(code, reason);
            if (!_clientClosed)
            {
                await Task.WhenAny(receiving, Task.Delay(s_closeGrace));
            }
        }

        if (!receiving.IsCompleted)
        {
            _context.Abort();
        }

        await receiving;
    }

    private async Task SendCloseAsync(ushort code, string reason)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_controlPayload, code);
        var length = 2 + Encoding.UTF8.GetBytes(reason.AsSpan(0, Math.Min(reason.Length, 100)), _controlPayload.AsSpan(2));
        try
        {
            // A stalled client may never take the close frame: give it a moment, then drop the connection.
            var headerLength = WebSocketFrames.WriteServerHeader(_header, WebSocketOpcode.Close, length);
            Task send = _sender is not null
                ? _sender.SendAsync(new ArraySegment<byte>(_header, 0, headerLength), new ArraySegment<byte>(_controlPayload, 0, length)).AsTask()
                : WriteCloseToStreamAsync(headerLength, length);
            if (await Task.WhenAny(send, Task.Delay(s_closeGrace)) != send)
            {
                _context.Abort();
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            _clientGone = true;
        }
    }

    private async Task WriteCloseToStreamAsync(int headerLength, int length)
    {
        await _stream!.WriteAsync(_header.AsMemory(0, headerLength));
        await _stream.WriteAsync(_controlPayload.AsMemory(0, length));
        await _stream.FlushAsync();
    }

    private void OnServerStopping()
    {
        _stopping = true;
        _reader?.Close();
        // A viewer blocked in a send to a client that stopped reading would hold shutdown up: drop it.
        _ = Task.Delay(s_stalledAbortGrace).ContinueWith(
            static (_, state) =>
            {
                var viewer = (WebSocketFrameViewer)state!;
                if (!viewer._finished)
                {
                    viewer._context.Abort();
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private static ushort EchoableCloseCode(ushort code) =>
        code is 1005 or 1006 or 1015 || code < 1000 ? (ushort)1000 : code;

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Debug, "Feed {Feed}: viewer {Remote} connected (direct socket sends: {Direct})")]
        public static partial void ViewerConnected(ILogger logger, string feed, string remote, bool direct);

        [LoggerMessage(101, LogLevel.Debug, "Feed {Feed}: viewer left after {Frames} frames, {Drops} skipped")]
        public static partial void ViewerDisconnected(ILogger logger, string feed, long frames, long drops);

        [LoggerMessage(103, LogLevel.Debug, "Feed {Feed}: a viewer left during the handshake: {Reason}")]
        public static partial void HandshakeFailed(ILogger logger, string feed, string reason);

        [LoggerMessage(102, LogLevel.Information, "Feed {Feed}: closing a viewer for a protocol error: {Error}")]
        public static partial void ClientProtocolError(ILogger logger, string feed, string error);
    }
}

/// <summary>How a WebSocket viewer frames what it sends.</summary>
internal enum ViewerFraming
{
    /// <summary>One binary message per frame, the frame's bytes only (raw, JPEG); newest frame first.</summary>
    Frames,

    /// <summary>fMP4 for MSE: a text message with the MIME type and the init segment first (again when it changes), then one media segment per message, in order.</summary>
    Fmp4,

    /// <summary>WebCodecs: a text message with the decoder config JSON, then [u64 µs timestamp][u8 flags][AVCC access unit] per message.</summary>
    WebCodecs,

    /// <summary>BerryMSE's layout: the init segment, then its 104-byte-moof fragments numbered per viewer.</summary>
    BerryMse,

    /// <summary>A byte stream (MPEG-TS for jsmpeg, vw and relays): the feed's header bytes (PAT/PMT) as a binary message first, then every chunk in order; a slow viewer skips whole groups of pictures.</summary>
    Stream,
}
