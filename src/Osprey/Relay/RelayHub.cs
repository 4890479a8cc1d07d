using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Numerics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Relay;

/// <summary>
/// crossbar's bidirectional topics: every message a client sends on a path goes to every other client on the
/// same path, text as text and binary as binary (N:N; control channels such as vw's <c>api</c> run over these).
/// </summary>
/// <remarks>
/// <para>Each client has a bounded send queue: a client that does not read loses messages (counted), never
/// holds up the sender or the other clients (crossbar's hub deadlocked the first time one client's 256-message
/// buffer filled). A message is one pooled, reference-counted <see cref="Frame"/> shared by all its receivers,
/// back in the hub's pool when the last has sent it: broadcasting allocates nothing once the pool is warm.</para>
/// <para>Each client's queue is bounded in bytes as well (<see cref="RelayLimits.MaxQueuedBytes"/>): 256
/// messages of 10 MiB would be 2.5 GiB held for one client that stopped reading.</para>
/// <para>A client whose socket takes nothing of a send for <see cref="RelayLimits.SendTimeout"/>, or that sends and is
/// sent nothing (pings count) for <see cref="RelayLimits.IdleTimeout"/>, is dropped (counted): one timer for the hub
/// looks at every client, so nothing is allocated per message for it.</para>
/// <para>Thread-safe. Topic membership uses copy-on-write arrays so broadcasting takes no lock.</para>
/// </remarks>
public sealed partial class RelayHub : IDisposable
{
    /// <summary>The most bytes of one message (crossbar's read limit); a longer one is closed with 1009.</summary>
    public const int MaxMessageBytes = 10 * 1024 * 1024;

    private const int QueueMessages = 256;

    /// <summary>
    /// Message frames are rented in powers of two from here up, so that messages of varying sizes (control text,
    /// media chunks) reuse the pool's frames instead of each new largest size allocating one.
    /// </summary>
    private const int MinMessageCapacity = 4 * 1024;

    private readonly ConcurrentDictionary<string, Peer[]> _topics = new(StringComparer.Ordinal);
    private readonly Lock _membership = new();
    private readonly FramePool _pool = new();
    private readonly ILogger _logger;
    private readonly RelayLimits _limits;
    private readonly Timer? _sweeper;
    private long _messages;
    private long _drops;
    private long _clientsDropped;
    private long _refused;

    /// <summary>Creates an empty hub with <paramref name="limits"/> (the defaults when null).</summary>
    public RelayHub(ILogger logger, RelayLimits? limits = null)
    {
        _logger = logger;
        _limits = limits ?? new RelayLimits();
        var shortest = new[] { _limits.SendTimeout, _limits.IdleTimeout }.Where(t => t > TimeSpan.Zero).DefaultIfEmpty().Min();
        if (shortest > TimeSpan.Zero)
        {
            // A quarter of the shortest timeout between looks: a client is dropped within 1.25 of its timeout.
            var period = TimeSpan.FromMilliseconds(Math.Clamp(shortest.TotalMilliseconds / 4, 50, 1000));
            _sweeper = new Timer(static state => ((RelayHub)state!).Sweep(), this, period, period);
        }
    }

    /// <summary>The limits clients are held to.</summary>
    public RelayLimits Limits => _limits;

    /// <summary>Clients dropped for a stalled send or for being idle past the timeouts.</summary>
    public long ClientsDropped => Interlocked.Read(ref _clientsDropped);

    /// <summary>The default of <see cref="MaxTopics"/>.</summary>
    public const int DefaultMaxTopics = 256;

    /// <summary>The default of <see cref="MaxClientsPerTopic"/>.</summary>
    public const int DefaultMaxClientsPerTopic = 64;

    /// <summary>The most topics with clients at once: any path is a topic, so their names come from clients.</summary>
    public int MaxTopics
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = DefaultMaxTopics;

    /// <summary>The most clients of one topic (every message is queued once per client).</summary>
    public int MaxClientsPerTopic
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 2);
            field = value;
        }
    } = DefaultMaxClientsPerTopic;

    /// <summary>Clients refused because of <see cref="MaxTopics"/> or <see cref="MaxClientsPerTopic"/>.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>
    /// Why a client may not join <paramref name="topic"/> now (null: it may), asked before the upgrade so the refusal
    /// is a plain HTTP answer; <see cref="ServeAsync"/> checks again, since others may join in between.
    /// </summary>
    public string? CheckJoin(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var refusal = _topics.TryGetValue(topic, out var peers)
            ? peers.Length >= MaxClientsPerTopic ? $"Topic {topic} has {MaxClientsPerTopic} clients already; try again later." : null
            : _topics.Count >= MaxTopics ? $"This relay has {MaxTopics} topics already (--max-topics); try again later." : null;
        if (refusal is not null)
        {
            Interlocked.Increment(ref _refused);
        }

        return refusal;
    }

    /// <summary>Messages relayed (counted once per sender's message).</summary>
    public long Messages => Interlocked.Read(ref _messages);

    /// <summary>Messages not delivered to a client because its queue was full (in messages or in bytes).</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Clients connected now, over all topics.</summary>
    public int Clients => _topics.Values.Sum(p => p.Length);

    /// <summary>Topics with clients now, and how many each has.</summary>
    public IReadOnlyDictionary<string, int> Topics => _topics.ToDictionary(t => t.Key, t => t.Value.Length, StringComparer.Ordinal);

    /// <summary>Message frames rented and not yet back in the hub's pool (0 when no message is queued or sending); for tests.</summary>
    internal long MessagesInFlight => _pool.Outstanding;

    /// <summary>Stops the hub's timeout timer.</summary>
    public void Dispose() => _sweeper?.Dispose();

    /// <summary>
    /// Serves <paramref name="socket"/> on <paramref name="topic"/> until it closes or <paramref name="cancellationToken"/>
    /// is cancelled: relays what it sends to the topic's other clients and sends it theirs.
    /// </summary>
    /// <param name="socket">The client's WebSocket.</param>
    /// <param name="topic">The topic's path.</param>
    /// <param name="cancellationToken">Ends the service (the server stopping).</param>
    /// <param name="lastHeardFrom">
    /// When the client last sent any bytes (<see cref="Environment.TickCount64"/>), control frames included: .NET's
    /// WebSocket answers pings without a trace, and a client that pings is not idle. Null: messages only.
    /// </param>
    public async Task ServeAsync(WebSocket socket, string topic, CancellationToken cancellationToken, Func<long>? lastHeardFrom = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var peer = new Peer(socket, lastHeardFrom);
        if (!TryJoin(topic, peer))
        {
            Interlocked.Increment(ref _refused);
            await socket.CloseOutputAsync((WebSocketCloseStatus)1013, "too many topics or clients; try again later", cancellationToken);
            return;
        }

        Log.Joined(_logger, topic);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sending = SendLoopAsync(peer, stop.Token);
        try
        {
            await ReceiveLoopAsync(peer, topic, stop.Token);
        }
        finally
        {
            Leave(topic, peer);
            peer.Queue.Writer.TryComplete();
            await stop.CancelAsync();
            await sending;
            while (peer.Queue.Reader.TryRead(out var left))
            {
                Interlocked.Add(ref peer.QueuedBytes, -left.Frame.Length);
                left.Frame.Release();
            }

            Log.Left(_logger, topic, peer.Dropped);
        }
    }

    private async Task ReceiveLoopAsync(Peer peer, string topic, CancellationToken cancellationToken)
    {
        var socket = peer.Socket;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var length = 0;
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                if (length == buffer.Length)
                {
                    // Only reached below the limit (see below); the pool's arrays are powers of two, so the window
                    // read into is capped at one byte over the limit rather than at the array's length.
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxMessageBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var window = Math.Min(buffer.Length, MaxMessageBytes + 1);
                var result = await socket.ReceiveAsync(buffer.AsMemory(length, window - length), cancellationToken);
                if (result.MessageType != WebSocketMessageType.Close && length + result.Count > MaxMessageBytes)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, "message over 10 MiB", cancellationToken);
                    return;
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cancellationToken);
                    return;
                }

                length += result.Count;
                peer.Touch();
                if (result.EndOfMessage)
                {
                    Broadcast(topic, peer, buffer.AsSpan(0, length), result.MessageType);
                    length = 0;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Broadcast(string topic, Peer sender, ReadOnlySpan<byte> payload, WebSocketMessageType type)
    {
        if (!_topics.TryGetValue(topic, out var peers) || peers.Length < 2)
        {
            return;
        }

        Interlocked.Increment(ref _messages);
        var frame = _pool.Rent(MessageCapacity(payload.Length));
        payload.CopyTo(frame.GetWritableSpan(payload.Length));
        var message = new RelayedMessage(frame, type);
        try
        {
            foreach (var peer in peers)
            {
                if (peer == sender)
                {
                    continue;
                }

                frame.AddReference(); // the receiver's, given back after its send
                // The byte budget is taken before the write and given back if the write fails, so that two
                // senders racing for the last room cannot both overshoot it.
                if (Interlocked.Add(ref peer.QueuedBytes, payload.Length) > _limits.MaxQueuedBytes || !peer.Queue.Writer.TryWrite(message))
                {
                    Interlocked.Add(ref peer.QueuedBytes, -payload.Length);
                    Interlocked.Increment(ref peer.Dropped);
                    Interlocked.Increment(ref _drops);
                    frame.Release();
                }
            }
        }
        finally
        {
            frame.Release(); // the broadcast's own: the frame is back in the pool once every receiver has sent it
        }
    }

    private static int MessageCapacity(int length) =>
        Math.Min((int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, MinMessageCapacity)), Math.Max(length, MaxMessageBytes));

    private static async Task SendLoopAsync(Peer peer, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in peer.Queue.Reader.ReadAllAsync(cancellationToken))
            {
                Interlocked.Add(ref peer.QueuedBytes, -message.Frame.Length);
                Volatile.Write(ref peer.SendPendingSince, Math.Max(1, Environment.TickCount64));
                try
                {
                    await peer.Socket.SendAsync(message.Frame.Memory, message.Type, endOfMessage: true, cancellationToken);
                }
                finally
                {
                    Volatile.Write(ref peer.SendPendingSince, 0);
                    peer.Touch();
                    message.Frame.Release();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    private bool TryJoin(string topic, Peer peer)
    {
        lock (_membership)
        {
            var exists = _topics.TryGetValue(topic, out var peers);
            if (exists ? peers!.Length >= MaxClientsPerTopic : _topics.Count >= MaxTopics)
            {
                return false;
            }

            _topics[topic] = exists ? [.. peers!, peer] : [peer];
            return true;
        }
    }

    private void Leave(string topic, Peer peer)
    {
        lock (_membership)
        {
            if (!_topics.TryGetValue(topic, out var peers))
            {
                return;
            }

            var rest = peers.Where(p => p != peer).ToArray();
            if (rest.Length == 0)
            {
                _topics.TryRemove(topic, out _);
            }
            else
            {
                _topics[topic] = rest;
            }
        }
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        var sendTimeout = (long)_limits.SendTimeout.TotalMilliseconds;
        var idleTimeout = (long)_limits.IdleTimeout.TotalMilliseconds;
        foreach (var (topic, peers) in _topics)
        {
            foreach (var peer in peers)
            {
                string? reason = null;
                if (sendTimeout > 0 && Volatile.Read(ref peer.SendPendingSince) is > 0 and var since && now - since >= sendTimeout)
                {
                    reason = $"its socket took nothing for {_limits.SendTimeout.TotalSeconds} s";
                }
                else if (idleTimeout > 0 && now - peer.LastActivity >= idleTimeout)
                {
                    reason = $"it sent and was sent nothing for {_limits.IdleTimeout.TotalSeconds} s";
                }

                if (reason is not null && !peer.DroppedByHub)
                {
                    peer.DroppedByHub = true;
                    Interlocked.Increment(ref _clientsDropped);
                    Log.ClientDropped(_logger, topic, reason);
                    // Aborting ends its pending receive and send at once; a close frame could wait on a stalled socket.
                    peer.Socket.Abort();
                }
            }
        }
    }

    private sealed class Peer(WebSocket socket, Func<long>? lastHeardFrom)
    {
        private long _lastActivity = Environment.TickCount64;

        public WebSocket Socket { get; } = socket;

        /// <summary>The latest of: a message received from it, a send to it completed, any bytes it sent.</summary>
        public long LastActivity => Math.Max(Volatile.Read(ref _lastActivity), lastHeardFrom?.Invoke() ?? 0);

        public long QueuedBytes;

        public long SendPendingSince;

        public volatile bool DroppedByHub;

        public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);

        public Channel<RelayedMessage> Queue { get; } = Channel.CreateBounded<RelayedMessage>(new BoundedChannelOptions(QueueMessages)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the drop is ours to count
        });

        public long Dropped;
    }

    /// <summary>One relayed message as a receiver's queue holds it: the frame holds a reference for that receiver.</summary>
    private readonly record struct RelayedMessage(Frame Frame, WebSocketMessageType Type);

    private static partial class Log
    {
        [LoggerMessage(LogEvents.TopicJoined, LogLevel.Debug, "Relay topic {Topic}: client joined")]
        public static partial void Joined(ILogger logger, string topic);

        [LoggerMessage(LogEvents.TopicClientDropped, LogLevel.Information, "Relay topic {Topic}: dropping a client: {Reason}")]
        public static partial void ClientDropped(ILogger logger, string topic, string reason);

        [LoggerMessage(LogEvents.TopicLeft, LogLevel.Debug, "Relay topic {Topic}: client left ({Dropped} messages dropped for it)")]
        public static partial void Left(ILogger logger, string topic, long dropped);
    }
}
