using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Osprey.Server.Outputs;

/// <summary>
/// The sending side of one viewer connection, shared by every output protocol: each write is a small
/// per-viewer head, the body (usually a shared frame buffer) and a small tail, sent straight to the
/// connection's socket in one vectored send, or through a stream when Kestrel gives no socket.
/// </summary>
/// <remarks>
/// <para>Direct sends: the socket comes from <see cref="IConnectionSocketFeature"/> and the bytes go through
/// <see cref="SocketFrameSender"/>, so the body is never copied in user space (the managed WebSocket and
/// Kestrel's output pipe would each copy it once per viewer) and nothing is allocated per write. A body that is
/// native memory with no array (a V4L2 mmap frame) is sent from that memory too.</para>
/// <para>Ordering: make the writer only once the response head (the 101, or MJPEG's chunked head) has been
/// flushed. Kestrel's transport is configured to hand every flush to the kernel before it completes (see
/// <c>OspreyServer</c>), so no direct send can overtake the head.</para>
/// <para>The stream fallback (over TLS, or without a socket) costs one copy into Kestrel's pipe. What the
/// stream needs differs per protocol (MJPEG's chunk framing is Kestrel's there), so callers ask
/// <see cref="IsDirect"/> and give the bytes to match.</para>
/// <para>Ownership: one write at a time (the connection's send loop owns the writer); dispose it after the
/// last write has completed.</para>
/// </remarks>
internal sealed class ConnectionWriter : IDisposable
{
    private readonly SocketFrameSender? _sender;
    private readonly Stream _stream;
    private readonly HttpContext _context;
    private readonly SendWatchdog? _watchdog;
    private long _sendPendingSince;
    private volatile bool _timedOut;

    private ConnectionWriter(SocketFrameSender? sender, Stream stream, HttpContext context, SendWatchdog? watchdog)
    {
        _sender = sender;
        _stream = stream;
        _context = context;
        _watchdog = watchdog;
        watchdog?.Add(this);
    }

    /// <summary>When the send in progress began (<see cref="Environment.TickCount64"/>), or 0 when none is.</summary>
    public long SendPendingSince => Volatile.Read(ref _sendPendingSince);

    /// <summary>True once the <see cref="SendWatchdog"/> dropped this connection for a stalled send.</summary>
    public bool TimedOut => _timedOut;

    /// <summary>Drops the connection for a send stalled past the timeout; false when no send is pending any more.</summary>
    internal bool TimeOut()
    {
        if (SendPendingSince == 0 || _timedOut)
        {
            return false;
        }

        _timedOut = true;
        _context.Abort(); // the pending send fails, and the viewer's loop ends as for a client gone
        return true;
    }

    /// <summary>True when writes go straight to the socket; false when they go through the stream.</summary>
    public bool IsDirect => _sender is not null;

    /// <summary>
    /// A writer for <paramref name="context"/>'s connection: direct to its socket when there is one and the
    /// connection is not TLS, and <paramref name="allowDirect"/>; else through <paramref name="stream"/>.
    /// </summary>
    /// <param name="context">The request whose connection is written.</param>
    /// <param name="stream">Where bytes go without a socket: the upgraded stream, or the response body.</param>
    /// <param name="allowDirect">False when the protocol cannot bypass Kestrel here (a response that is not chunked).</param>
    public static ConnectionWriter Create(HttpContext context, Stream stream, bool allowDirect = true)
    {
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        var overTls = context.Features.Get<ITlsConnectionFeature>() is not null;
        var watchdog = context.RequestServices?.GetService(typeof(SendWatchdog)) as SendWatchdog;
        return new ConnectionWriter(allowDirect && socket is not null && !overTls ? new SocketFrameSender(socket) : null, stream, context, watchdog);
    }

    /// <summary>
    /// Writes <paramref name="head"/>, <paramref name="body"/> then <paramref name="tail"/> (empty ones are
    /// skipped); completes when the kernel (or the stream) has all of it.
    /// </summary>
    /// <returns>False when the socket refused the bytes (the client is gone); stream errors throw.</returns>
    public ValueTask<bool> WriteAsync(ArraySegment<byte> head, ReadOnlyMemory<byte> body, ArraySegment<byte> tail = default, CancellationToken cancellationToken = default)
    {
        Volatile.Write(ref _sendPendingSince, Math.Max(1, Environment.TickCount64));
        if (_sender is null)
        {
            return WriteToStreamAsync(head, body, tail, cancellationToken);
        }

        // Not async while the kernel buffer has room (the common case): no state machine per write.
        var sending = _sender.SendAsync(head, body, tail);
        if (sending.IsCompletedSuccessfully)
        {
            Volatile.Write(ref _sendPendingSince, 0);
            return new ValueTask<bool>(sending.Result == SocketError.Success);
        }

        return AwaitSendAsync(sending);
    }

    /// <summary>Releases the socket sender (never the socket, which is Kestrel's).</summary>
    public void Dispose()
    {
        _watchdog?.Remove(this);
        _sender?.Dispose();
    }

    private async ValueTask<bool> AwaitSendAsync(ValueTask<SocketError> sending)
    {
        try
        {
            return await sending == SocketError.Success;
        }
        finally
        {
            Volatile.Write(ref _sendPendingSince, 0);
        }
    }

    private async ValueTask<bool> WriteToStreamAsync(ArraySegment<byte> head, ReadOnlyMemory<byte> body, ArraySegment<byte> tail, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAllToStreamAsync(head, body, tail, cancellationToken);
            return true;
        }
        finally
        {
            Volatile.Write(ref _sendPendingSince, 0);
        }
    }

    private async Task WriteAllToStreamAsync(ArraySegment<byte> head, ReadOnlyMemory<byte> body, ArraySegment<byte> tail, CancellationToken cancellationToken)
    {
        if (head.Count > 0)
        {
            await _stream.WriteAsync(head.AsMemory(), cancellationToken);
        }

        if (!body.IsEmpty)
        {
            await _stream.WriteAsync(body, cancellationToken);
        }

        if (tail.Count > 0)
        {
            await _stream.WriteAsync(tail.AsMemory(), cancellationToken);
        }

        await _stream.FlushAsync(cancellationToken);
    }
}
