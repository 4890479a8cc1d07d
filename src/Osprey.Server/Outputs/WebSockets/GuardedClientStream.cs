using System.Buffers.Binary;
using System.Text;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// The upgraded stream of a message socket (relay topics, pushes, the control API) with every byte the client
/// sends followed by a <see cref="ClientFrameGuard"/>: a frame .NET's WebSocket would wait on for ever (an
/// unmasked ping) or buffer without need (one over the limit) is answered with its close code at once, and the
/// socket then reads the end of the stream.
/// </summary>
/// <remarks>
/// <para>Writes are serialised with the close this stream may write itself, because the WebSocket above writes each
/// frame in one call and must never be cut into. After that close, writes fail as on a closed connection.</para>
/// <para>Disposing it drops the connection (<paramref name="abortConnection"/>): Kestrel's upgraded stream does
/// not end a pending read when disposed, so a WebSocket aborted by a timeout would otherwise stay blocked in
/// its receive until the client sent something.</para>
/// </remarks>
internal sealed class GuardedClientStream(Stream inner, ClientFrameGuard guard, Action abortConnection) : Stream
{
    private readonly SemaphoreSlim _writing = new(1, 1);
    private volatile bool _refused;
    private long _lastReadTicks = Environment.TickCount64;

    /// <summary>When the client last sent bytes (<see cref="Environment.TickCount64"/>); the upgrade counts as the first.</summary>
    public long LastReadTicks => Volatile.Read(ref _lastReadTicks);

    /// <summary>Why the client was refused, once it was.</summary>
    public string? Error => guard.Error;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_refused)
        {
            return 0;
        }

        var read = await inner.ReadAsync(buffer, cancellationToken);
        if (read > 0)
        {
            Volatile.Write(ref _lastReadTicks, Environment.TickCount64);
        }

        if (read == 0 || guard.Check(buffer.Span[..read]))
        {
            return read;
        }

        await RefuseAsync(cancellationToken);
        return 0; // the WebSocket sees the connection end, and stops
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            if (_refused)
            {
                throw new IOException("the connection was closed for a protocol error");
            }

            await inner.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            abortConnection();
            inner.Dispose();
            _writing.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task RefuseAsync(CancellationToken cancellationToken)
    {
        var frame = new byte[2 + 2 + 100];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), guard.ErrorCloseCode);
        var reason = guard.Error ?? "";
        var length = 2 + Encoding.UTF8.GetBytes(reason.AsSpan(0, Math.Min(reason.Length, 100)), frame.AsSpan(4));
        frame[0] = 0x80 | (byte)WebSocketOpcode.Close;
        frame[1] = (byte)length;
        await _writing.WaitAsync(cancellationToken);
        try
        {
            _refused = true;
            await inner.WriteAsync(frame.AsMemory(0, 2 + length), cancellationToken);
            await inner.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // the client is gone already: nothing to tell it
        }
        finally
        {
            _writing.Release();
        }
    }
}
