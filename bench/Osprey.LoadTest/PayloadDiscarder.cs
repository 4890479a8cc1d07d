using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Osprey.LoadTest;

/// <summary>Drops payload bytes from a socket as cheaply as the platform allows; one instance is shared by all viewers.</summary>
/// <remarks>
/// On Linux TCP, <c>recv(..., MSG_TRUNC)</c> consumes bytes in the kernel without copying them to the caller
/// (tcp(7)), so a viewer costs a syscall per readable burst instead of a 600 kB memcpy per frame. .NET's
/// <see cref="SocketFlags.Truncated"/> is passed through to <c>MSG_TRUNC</c> by System.Native on Linux; the
/// start-up self-test proves it on the running kernel and runtime instead of trusting that.
/// </remarks>
internal sealed partial class PayloadDiscarder
{
    // With MSG_TRUNC the kernel never writes to the buffer, so it can be large enough to drain a whole socket
    // buffer in one call; in Copy mode only the first CopyChunk bytes are used so the copy stays cache-resident.
    private const int TruncateChunk = 1 << 20;
    private const int CopyChunk = 64 * 1024;

    private const int MSG_TRUNC = 0x20;
    private const int MSG_DONTWAIT = 0x40;
    private const int EINTR = 4;
    private const int EAGAIN = 11;

    // Written concurrently by every viewer in Copy mode: the contents are garbage by design and never read.
    private static readonly byte[] s_scratch = GC.AllocateUninitializedArray<byte>(TruncateChunk, pinned: true);

    private readonly byte[] _scratch;

    private PayloadDiscarder(DiscardMode mode, string detail, byte[]? scratch = null)
    {
        Mode = mode;
        Detail = detail;
        _scratch = scratch ?? s_scratch;
    }

    /// <summary>The mode in use (never <see cref="DiscardMode.Auto"/>).</summary>
    public DiscardMode Mode { get; }

    /// <summary>What the self-test found, for the report.</summary>
    public string Detail { get; }

    /// <summary>Picks the mode: the requested one if it passes the self-test, else the next cheaper-to-trust fallback.</summary>
    public static async Task<PayloadDiscarder> CreateAsync(DiscardMode requested, CancellationToken ct)
    {
        var notes = new List<string>();
        DiscardMode[] candidates = requested switch
        {
            DiscardMode.Truncate => [DiscardMode.Truncate, DiscardMode.Copy],
            DiscardMode.NativeTruncate => [DiscardMode.NativeTruncate, DiscardMode.Copy],
            DiscardMode.Copy => [DiscardMode.Copy],
            _ => [DiscardMode.Truncate, DiscardMode.NativeTruncate, DiscardMode.Copy],
        };

        foreach (var mode in candidates)
        {
            if (mode == DiscardMode.Copy)
            {
                break;
            }

            var failure = await SelfTestAsync(mode, ct);
            if (failure is null)
            {
                notes.Add($"{mode}: self-test passed (bytes consumed, buffer untouched)");
                return new PayloadDiscarder(mode, string.Join("; ", notes));
            }

            notes.Add($"{mode}: {failure}");
        }

        notes.Add("using Copy");
        return new PayloadDiscarder(DiscardMode.Copy, string.Join("; ", notes));
    }

    /// <summary>Discards up to <paramref name="count"/> bytes, waiting for at least one; returns how many were dropped, 0 at end of stream.</summary>
    public ValueTask<int> DiscardAsync(Socket socket, long count, CancellationToken ct) => Mode switch
    {
        DiscardMode.Truncate => socket.ReceiveAsync(_scratch.AsMemory(0, (int)Math.Min(count, _scratch.Length)), SocketFlags.Truncated, ct),
        DiscardMode.NativeTruncate => DiscardNativeAsync(socket, (int)Math.Min(count, _scratch.Length), ct),
        _ => socket.ReceiveAsync(_scratch.AsMemory(0, (int)Math.Min(count, Math.Min(CopyChunk, _scratch.Length))), SocketFlags.None, ct),
    };

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> DiscardNativeAsync(Socket socket, int count, CancellationToken ct)
    {
        // Each pass either consumes bytes or waits for readability, and the wait is cancelled at the end of the
        // run; the cap only guards against a socket that keeps reporting readable without data.
        for (var attempt = 0; attempt < 1_000_000; attempt++)
        {
            var received = TryReceiveTruncated(socket, count, out var errno);
            if (received >= 0)
            {
                return received;
            }

            if (errno == EINTR)
            {
                continue;
            }

            if (errno != EAGAIN)
            {
                throw new IOException($"recv(MSG_TRUNC) failed with errno {errno}");
            }

            // A zero-byte receive completes when data (or EOF) is available without consuming anything:
            // .NET turns it into a one-byte MSG_PEEK once the socket is readable.
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, ct);
        }

        throw new IOException("recv(MSG_TRUNC) made no progress");
    }

    private unsafe int TryReceiveTruncated(Socket socket, int count, out int errno)
    {
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            // Holding a reference stops a concurrent Dispose from closing (and the OS reusing) the descriptor mid-call.
            handle.DangerousAddRef(ref added);
            fixed (byte* buffer = _scratch)
            {
                var result = recv((int)handle.DangerousGetHandle(), buffer, (nuint)count, MSG_TRUNC | MSG_DONTWAIT);
                errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
                return (int)result;
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(int sockfd, byte* buf, nuint len, int flags);

    /// <summary>Sends a known pattern over loopback, discards part of it, and checks the right bytes were consumed without being copied.</summary>
    private static async Task<string?> SelfTestAsync(DiscardMode mode, CancellationToken ct)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "MSG_TRUNC on TCP is Linux-only";
        }

        const int Total = 256;
        const int Discard = 200;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(listener.LocalEndPoint!, timeout.Token);
            using var server = await listener.AcceptAsync(timeout.Token);

            var pattern = new byte[Total];
            for (var i = 0; i < Total; i++)
            {
                pattern[i] = (byte)(i % 251); // never 0xEE, the sentinel below
            }

            await server.SendAsync(pattern, SocketFlags.None, timeout.Token);

            // A private buffer: the shared one may be in use by another run's viewers in Copy mode.
            var sentinel = new byte[Total];
            sentinel.AsSpan().Fill(0xEE);
            var discarder = new PayloadDiscarder(mode, "", sentinel);
            var discarded = 0;
            for (var i = 0; i < Total && discarded < Discard; i++)
            {
                var n = await discarder.DiscardAsync(client, Discard - discarded, timeout.Token);
                if (n <= 0)
                {
                    return "discard returned end of stream";
                }

                discarded += n;
            }

            if (discarded != Discard)
            {
                return $"discarded {discarded} bytes, expected {Discard}";
            }

            if (sentinel.AsSpan().ContainsAnyExcept((byte)0xEE))
            {
                return "flag ignored: the bytes were copied into the buffer";
            }

            var rest = new byte[Total - Discard];
            var got = 0;
            for (var i = 0; i < Total && got < rest.Length; i++)
            {
                var n = await client.ReceiveAsync(rest.AsMemory(got), SocketFlags.None, timeout.Token);
                if (n <= 0)
                {
                    return "stream ended early";
                }

                got += n;
            }

            return rest.AsSpan().SequenceEqual(pattern.AsSpan(Discard)) ? null : "wrong bytes left after discard";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return "self-test timed out";
        }
        catch (Exception ex) when (ex is SocketException or IOException or NotSupportedException or ArgumentException
            or DllNotFoundException or EntryPointNotFoundException or PlatformNotSupportedException)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }
}
