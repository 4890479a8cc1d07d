using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Osprey.Protocols.WebSockets;
using Osprey.Runtime;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// One upgraded WebSocket connection as a server that streams: the 101, messages out through a
/// <see cref="ConnectionWriter"/>, the client's frames in, and the close handshake. What goes in each message
/// is its user's business (<see cref="WebSocketFrameViewer"/> and its <see cref="WebSocketFraming"/>).
/// </summary>
/// <remarks>
/// <para>Ownership: the user's send loop owns the sending side (messages, the pending pong, the close); the
/// receive loop owns the upgraded stream's reading side and only sets flags and calls the wake callback, so
/// that control frames never interleave with a message being sent.</para>
/// <para>A message is the 2-10 byte frame header, written into this connection's buffer, and up to two payload
/// parts sent with it in one vectored send: nothing is allocated per message.</para>
/// </remarks>
internal sealed partial class WebSocketConnection : IDisposable
{
    private static readonly TimeSpan s_closeGrace = TimeSpan.FromMilliseconds(500);

    private readonly HttpContext _context;
    private readonly Stream _stream;
    private readonly ConnectionWriter _writer;
    private readonly ILogger _logger;
    private readonly string _feedName;
    private readonly byte[] _header = new byte[WebSocketFrames.MaxServerHeaderSize];
    private readonly byte[] _controlPayload = new byte[125];
    private readonly byte[] _pongPayload = new byte[125];
    private readonly ClientFrameParser _parser = new();
    private Action? _wake;
    private System.Threading.Channels.Channel<string>? _texts;
    private byte[]? _text;
    private int _textLength;
    private bool _textTooLong;
    private volatile int _pongLength = -1;
    private volatile bool _clientClosed;
    private volatile bool _clientGone;
    private ushort _clientCloseCode = 1000;
    private ushort _protocolErrorCode;

    private WebSocketConnection(HttpContext context, Stream stream, ILogger logger, string feedName)
    {
        _context = context;
        _stream = stream;
        _logger = logger;
        _feedName = feedName;
        // Made only after the 101 was flushed: direct sends cannot overtake it.
        _writer = ConnectionWriter.Create(context, stream);
    }

    /// <summary>True once the connection was dropped because a send stalled past the send timeout.</summary>
    public bool TimedOut => _writer.TimedOut;

    /// <summary>True when messages go straight to the socket.</summary>
    public bool IsDirect => _writer.IsDirect;

    /// <summary>True once the client closed, left, or broke the protocol: the send loop should stop.</summary>
    public bool IsEnding => _clientClosed || _clientGone || _protocolErrorCode != 0;

    /// <summary>
    /// Sends the 101 for a request <see cref="WebSocketUpgrade.ValidateAsync"/> accepted and returns the
    /// connection; the client leaving during the handshake throws (IOException, ConnectionAbortedException,
    /// ObjectDisposedException or InvalidOperationException).
    /// </summary>
    public static async Task<WebSocketConnection> AcceptAsync(HttpContext context, ILogger logger, string feedName)
    {
        var stream = await WebSocketUpgrade.AcceptAsync(context);
        return new WebSocketConnection(context, stream, logger, feedName);
    }

    /// <summary>
    /// Starts reading the client's frames; <paramref name="wake"/> is called when the send loop has something to
    /// do (a pong due, the client closed or gone). The task ends with the client's side.
    /// </summary>
    public Task StartReceiving(Action wake)
    {
        _wake = wake;
        return ReceiveLoopAsync();
    }

    /// <summary>The client's text messages (up to 64 KiB each, 16 waiting at most), once <see cref="CollectTextMessages"/> was called.</summary>
    public System.Threading.Channels.ChannelReader<string>? TextMessages => _texts?.Reader;

    /// <summary>
    /// Keeps the client's text messages for <see cref="TextMessages"/> (a protocol with a conversation, go2rtc's
    /// <c>/api/ws</c>); call before <see cref="StartReceiving"/>. Longer messages, and messages beyond 16 unread, are dropped.
    /// </summary>
    public void CollectTextMessages() =>
        _texts ??= System.Threading.Channels.Channel.CreateBounded<string>(new System.Threading.Channels.BoundedChannelOptions(16)
        {
            FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite,
            SingleReader = true,
            SingleWriter = true,
        });

    /// <summary>Records that the client is gone (a send failed), so that no close is attempted.</summary>
    public void MarkClientGone() => _clientGone = true;

    /// <summary>Drops the connection at once.</summary>
    public void Abort() => _context.Abort();

    /// <summary>Sends one message: <paramref name="payload"/> then <paramref name="more"/> (empty ones are skipped).</summary>
    /// <returns>False when the client is gone.</returns>
    public ValueTask<bool> SendAsync(WebSocketOpcode opcode, ReadOnlyMemory<byte> payload, ArraySegment<byte> more = default)
    {
        var headerLength = WebSocketFrames.WriteServerHeader(_header, opcode, payload.Length + more.Count);
        return _writer.WriteAsync(new ArraySegment<byte>(_header, 0, headerLength), payload, more);
    }

    /// <summary>Answers the client's latest ping, if one is due; false when the client is gone.</summary>
    public ValueTask<bool> SendPendingPongAsync()
    {
        var pong = _pongLength;
        if (pong < 0)
        {
            return new ValueTask<bool>(true);
        }

        _pongLength = -1;
        _pongPayload.AsSpan(0, pong).CopyTo(_controlPayload);
        return SendAsync(WebSocketOpcode.Pong, new ArraySegment<byte>(_controlPayload, 0, pong));
    }

    /// <summary>
    /// Ends the connection once the send loop has stopped: answers the client's close, or starts the close
    /// handshake with 1001 and <paramref name="goingAwayReason"/> and waits a moment for the client's; then
    /// drops the connection if the client still has not let go, and waits for <paramref name="receiving"/>.
    /// </summary>
    public async Task FinishAsync(Task receiving, string goingAwayReason)
    {
        if (!_clientGone)
        {
            var code = _protocolErrorCode != 0 ? _protocolErrorCode
                : _clientClosed ? _clientCloseCode
                : (ushort)1001; // going away: the server is stopping or the feed ended
            var reason = _protocolErrorCode != 0 ? _parser.Error ?? "" : _clientClosed ? "" : goingAwayReason;
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

    /// <summary>Releases the writer; call after <see cref="FinishAsync"/>.</summary>
    public void Dispose() => _writer.Dispose();

    private async Task SendCloseAsync(ushort code, string reason)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_controlPayload, code);
        var length = 2 + Encoding.UTF8.GetBytes(reason.AsSpan(0, Math.Min(reason.Length, 100)), _controlPayload.AsSpan(2));
        try
        {
            // A stalled client may never take the close frame: give it a moment, then drop the connection.
            var send = SendAsync(WebSocketOpcode.Close, new ArraySegment<byte>(_controlPayload, 0, length)).AsTask();
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

    private async Task ReceiveLoopAsync()
    {
        // Viewers send little (pings, a close): a small buffer per connection keeps thousands of them cheap.
        var buffer = new byte[512];
        try
        {
            while (!_clientClosed)
            {
                var read = await _stream.ReadAsync(buffer);
                if (read == 0)
                {
                    _clientGone = true;
                    break;
                }

                if (!_parser.Parse(buffer.AsSpan(0, read), this, static (connection, opcode, fin, payload) => connection.OnClientFrame(opcode, fin, payload)))
                {
                    _protocolErrorCode = _parser.ErrorCloseCode;
                    Log.ClientProtocolError(_logger, _feedName, _parser.Error ?? "?");
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
            _wake?.Invoke();
        }
    }

    private bool OnClientFrame(WebSocketOpcode opcode, bool fin, ReadOnlySpan<byte> payload)
    {
        switch (opcode)
        {
            case WebSocketOpcode.Ping:
                payload.CopyTo(_pongPayload);
                _pongLength = payload.Length;
                _wake?.Invoke();
                return true;
            case WebSocketOpcode.Close:
                // The parser has refused codes that may not be sent (1005, 1-byte payloads...): this one is echoed.
                _clientCloseCode = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : (ushort)1000;
                _clientClosed = true;
                return false;
            case WebSocketOpcode.Binary when _texts is not null:
                _textTooLong = true; // its continuations are not text
                return true;
            case WebSocketOpcode.Text or WebSocketOpcode.Continuation when _texts is not null:
                CollectText(opcode, fin, payload);
                return true;
            default:
                // Viewers have nothing to say on a frame feed: data messages are read and ignored.
                return true;
        }
    }

    private void CollectText(WebSocketOpcode opcode, bool fin, ReadOnlySpan<byte> payload)
    {
        const int MaxText = 64 * 1024;
        if (opcode == WebSocketOpcode.Text)
        {
            _textLength = 0;
            _textTooLong = false;
        }

        _text ??= new byte[MaxText];
        if (_textLength + payload.Length > MaxText)
        {
            _textTooLong = true;
        }
        else if (!_textTooLong)
        {
            payload.CopyTo(_text.AsSpan(_textLength));
            _textLength += payload.Length;
        }

        if (fin && !_textTooLong)
        {
            // The parser has checked the UTF-8 across fragments.
            _texts!.Writer.TryWrite(Encoding.UTF8.GetString(_text, 0, _textLength));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ViewerClientProtocolError, LogLevel.Information, "Feed {Feed}: closing a viewer for a protocol error: {Error}")]
        public static partial void ClientProtocolError(ILogger logger, string feed, string error);
    }
}
