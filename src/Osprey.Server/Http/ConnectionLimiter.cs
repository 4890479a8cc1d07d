using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace Osprey.Server.Http;

/// <summary>
/// Caps connections in total and per client address, below what the process's descriptor limit allows, so that
/// a flood of idle sockets is refused with a clear <c>503</c> and a closed connection instead of running the process
/// out of descriptors (where .NET aborts). Counted; the per-address table holds only addresses with open
/// connections, so it is bounded by the total cap.
/// </summary>
public sealed class ConnectionLimiter
{
    /// <summary>Descriptors kept for what is not a client connection: listeners, cameras, ffmpeg pipes, files, epoll.</summary>
    public const int ReservedDescriptors = 128;

    private static readonly byte[] s_busy = Encoding.ASCII.GetBytes(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 47\r\n\r\nToo many connections; Osprey refused this one.\n");

    private static readonly byte[] s_busyPerAddress = Encoding.ASCII.GetBytes(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 49\r\n\r\nToo many connections from your address; refused.\n");

    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private int _open;
    private long _refused;

    /// <summary>Caps at <paramref name="maxConnections"/> in total and <paramref name="maxPerAddress"/> from one address.</summary>
    public ConnectionLimiter(int maxConnections, int maxPerAddress)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerAddress, 1);
        MaxConnections = maxConnections;
        MaxPerAddress = maxPerAddress;
    }

    /// <summary>The total cap.</summary>
    public int MaxConnections { get; }

    /// <summary>The cap per client address.</summary>
    public int MaxPerAddress { get; }

    /// <summary>Connections open now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections refused since start.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>
    /// The default total cap: <paramref name="wanted"/>, lowered to what the descriptor limit leaves after the
    /// descriptors the process holds now (the runtime's own, the listeners to come) and
    /// <see cref="ReservedDescriptors"/> more (and at least 16).
    /// </summary>
    public static int DefaultMaxConnections(int wanted)
    {
        if (OpenFileLimit() is not { } soft)
        {
            return wanted;
        }

        var held = OpenDescriptors() ?? 256;
        return Math.Clamp(Math.Min(wanted, soft - held - ReservedDescriptors), 16, wanted);
    }

    /// <summary>Descriptors the process holds now (/proc/self/fd); null where it cannot be read.</summary>
    public static int? OpenDescriptors()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The soft RLIMIT_NOFILE, from /proc/self/limits (Linux); null where it cannot be read.</summary>
    public static int? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>The connection middleware: refuses past a cap, else runs <paramref name="next"/> and counts.</summary>
    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var address = (connection.RemoteEndPoint as IPEndPoint)?.Address is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip) : IPAddress.None;
        var refusal = TryEnter(address);
        if (refusal is not null)
        {
            Interlocked.Increment(ref _refused);
            try
            {
                await connection.Transport.Output.WriteAsync(refusal);
                await connection.Transport.Output.CompleteAsync();
            }
            catch (Exception ex) when (ex is IOException or ConnectionResetException or ObjectDisposedException or OperationCanceledException)
            {
            }

            return;
        }

        try
        {
            await next(connection);
        }
        finally
        {
            Leave(address);
        }
    };

    private byte[]? TryEnter(IPAddress address)
    {
        if (Interlocked.Increment(ref _open) > MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            return s_busy;
        }

        var count = _perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1);
        if (count > MaxPerAddress)
        {
            Leave(address);
            return s_busyPerAddress;
        }

        return null;
    }

    private void Leave(IPAddress address)
    {
        Interlocked.Decrement(ref _open);
        while (_perAddress.TryGetValue(address, out var count))
        {
            if (count <= 1 ? _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, count)) : _perAddress.TryUpdate(address, count - 1, count))
            {
                return;
            }
        }
    }
}
