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
/// <para>Thread-safe. Topic membership uses copy-on-write arrays so broadcasting takes no lock.</para>
/// </remarks>
public sealed partial class RelayHub
{
    /// <summary>The most bytes of one message (crossbar's read limit).</summary>
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
    private long _messages;
    private long _drops;
    private long _refused;

    /// <summary>Creates an empty hub.</summary>
    public RelayHub(ILogger logger) => _logger = logger;

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

    /// <summary>Messages not delivered to a client because its queue was full.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Clients connected now, over all topics.</summary>
    public int Clients => _topics.Values.Sum(p => p.Length);

    /// <summary>Topics with clients now, and how many each has.</summary>
    public IReadOnlyDictionary<string, int> Topics => _topics.ToDictionary(t => t.Key, t => t.Value.Length, StringComparer.Ordinal);

    /// <summary>Message frames rented and not yet back in the hub's pool (0 when no message is queued or sending); for tests.</summary>
    internal long MessagesInFlight => _pool.Outstanding;

    /// <summary>
    /// Serves <paramref name="socket"/> on <paramref name="topic"/> until it closes or <paramref name="cancellationToken"/>
    /// is cancelled: relays what it sends to the topic's other clients and sends it theirs.
    /// </summary>
    public async Task ServeAsync(WebSocket socket, string topic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var peer = new Peer(socket);
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
                    if (buffer.Length >= MaxMessageBytes)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, "message over 10 MiB", cancellationToken);
                        return;
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxMessageBytes));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cancellationToken);
                    return;
                }

                length += result.Count;
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
                if (!peer.Queue.Writer.TryWrite(message))
                {
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
                try
                {
                    await peer.Socket.SendAsync(message.Frame.Memory, message.Type, endOfMessage: true, cancellationToken);
                }
                finally
                {
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

    private sealed class Peer(WebSocket socket)
    {
        public WebSocket Socket { get; } = socket;

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

        [LoggerMessage(LogEvents.TopicLeft, LogLevel.Debug, "Relay topic {Topic}: client left ({Dropped} messages dropped for it)")]
        public static partial void Left(ILogger logger, string topic, long dropped);
    }
}
