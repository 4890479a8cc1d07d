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

    private ConnectionWriter(SocketFrameSender? sender, Stream stream)
    {
        _sender = sender;
        _stream = stream;
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
        return new ConnectionWriter(allowDirect && socket is not null && !overTls ? new SocketFrameSender(socket) : null, stream);
    }

    /// <summary>
    /// Writes <paramref name="head"/>, <paramref name="body"/> then <paramref name="tail"/> (empty ones are
    /// skipped); completes when the kernel (or the stream) has all of it.
    /// </summary>
    /// <returns>False when the socket refused the bytes (the client is gone); stream errors throw.</returns>
    public ValueTask<bool> WriteAsync(ArraySegment<byte> head, ReadOnlyMemory<byte> body, ArraySegment<byte> tail = default, CancellationToken cancellationToken = default)
    {
        if (_sender is null)
        {
            return WriteToStreamAsync(head, body, tail, cancellationToken);
        }

        // Not async while the kernel buffer has room (the common case): no state machine per write.
        var sending = _sender.SendAsync(head, body, tail);
        return sending.IsCompletedSuccessfully
            ? new ValueTask<bool>(sending.Result == SocketError.Success)
            : AwaitSendAsync(sending);
    }

    /// <summary>Releases the socket sender (never the socket, which is Kestrel's).</summary>
    public void Dispose() => _sender?.Dispose();

    private static async ValueTask<bool> AwaitSendAsync(ValueTask<SocketError> sending) =>
        await sending == SocketError.Success;

    private async ValueTask<bool> WriteToStreamAsync(ArraySegment<byte> head, ReadOnlyMemory<byte> body, ArraySegment<byte> tail, CancellationToken cancellationToken)
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
        return true;
    }
}
