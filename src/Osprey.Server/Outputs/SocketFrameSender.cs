using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Osprey.Server.Outputs;

/// <summary>
/// Sends a header and a shared frame buffer in one vectored <c>sendmsg</c>, straight to the connection's socket,
/// so that no viewer copies frame bytes in user space. Reused for every send of one connection; allocates
/// nothing per send.
/// </summary>
/// <remarks>Modelled on Kestrel's SocketSender. One send at a time; outputs use it through
/// <see cref="ConnectionWriter"/>, which owns it.</remarks>
internal sealed class SocketFrameSender : SocketAsyncEventArgs, IValueTaskSource<SocketError>
{
    private readonly Socket _socket;
    private readonly List<ArraySegment<byte>> _segments = new(2);
    private ManualResetValueTaskSourceCore<SocketError> _core;

    public SocketFrameSender(Socket socket)
        : base(unsafeSuppressExecutionContextFlow: true)
    {
        _socket = socket;
        // A send that had to wait completes from the socket engine, which already runs SocketAsyncEventArgs
        // completions as thread-pool work items (never on its epoll thread), so the viewer's loop goes on inline
        // there: one hop per pending send, not two (it showed at saturation, where most sends wait).
        _core.RunContinuationsAsynchronously = false;
    }

    /// <summary>Sends the three segments in order (empty ones are skipped) in one vectored send.</summary>
    public ValueTask<SocketError> SendAsync(ArraySegment<byte> first, ArraySegment<byte> second, ArraySegment<byte> third)
    {
        _segments.Clear();
        _segments.Add(first);
        if (second.Count > 0)
        {
            _segments.Add(second);
        }

        if (third.Count > 0)
        {
            _segments.Add(third);
        }

        SetBuffer(Memory<byte>.Empty); // a send over external memory may have set it; BufferList needs it clear
        BufferList = _segments;
        _core.Reset();
        if (!_socket.SendAsync(this))
        {
            // Completed synchronously (the common case while the kernel buffer has room).
            return new ValueTask<SocketError>(SocketError);
        }

        return new ValueTask<SocketError>(this, _core.Version);
    }

    /// <summary>
    /// Sends <paramref name="first"/>, <paramref name="payload"/> then <paramref name="third"/>. An array-backed
    /// payload goes in one vectored send; memory without an array (a V4L2 mmap buffer, see
    /// <c>Frame.CreateExternal</c>) goes in up to three sends of the same reused event args, still without a
    /// copy: one more syscall per frame instead of a memcpy of the frame.
    /// </summary>
    public ValueTask<SocketError> SendAsync(ArraySegment<byte> first, ReadOnlyMemory<byte> payload, ArraySegment<byte> third) =>
        // Not async on the array path, so that pooled frames keep costing no allocation per send.
        MemoryMarshal.TryGetArray(payload, out var segment)
            ? SendAsync(first, segment, third)
            : SendInPartsAsync(first, payload, third);

    private async ValueTask<SocketError> SendInPartsAsync(ArraySegment<byte> first, ReadOnlyMemory<byte> payload, ArraySegment<byte> third)
    {
        var result = await SendOneAsync(first);
        if (result == SocketError.Success && !payload.IsEmpty)
        {
            result = await SendOneAsync(MemoryMarshal.AsMemory(payload));
        }

        if (result == SocketError.Success && third.Count > 0)
        {
            result = await SendOneAsync(third);
        }

        return result;
    }

    private ValueTask<SocketError> SendOneAsync(Memory<byte> buffer)
    {
        BufferList = null;
        // SocketAsyncEventArgs pins through the memory's MemoryManager: free for native memory.
        SetBuffer(buffer);
        _core.Reset();
        if (!_socket.SendAsync(this))
        {
            return new ValueTask<SocketError>(SocketError);
        }

        return new ValueTask<SocketError>(this, _core.Version);
    }

    protected override void OnCompleted(SocketAsyncEventArgs e) => _core.SetResult(e.SocketError);

    SocketError IValueTaskSource<SocketError>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<SocketError>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<SocketError>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
