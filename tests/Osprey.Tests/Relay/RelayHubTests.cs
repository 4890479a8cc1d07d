using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Relay;

namespace Osprey.Tests.Relay;

/// <summary>crossbar's N:N topics over real WebSockets: each member is a loopback TCP connection.</summary>
[Trait("Needs", "Socket")]
public sealed class RelayHubTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AMessage_ReachesEveryOtherMemberOfItsTopic_AsSent_AndNotItsSender()
    {
        var hub = new RelayHub(NullLogger.Instance);
        await using var a = await TopicMember.JoinAsync(hub, "/api");
        await using var b = await TopicMember.JoinAsync(hub, "/api");
        await using var c = await TopicMember.JoinAsync(hub, "/api");
        // Bigger than the hub's first receive buffer, so the message is reassembled from several reads.
        var payload = new byte[100_000];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)(i * 7);
        }

        await a.SendAsync(payload, WebSocketMessageType.Binary);
        await AssertReceivesAsync(b, WebSocketMessageType.Binary, payload);
        await AssertReceivesAsync(c, WebSocketMessageType.Binary, payload);

        await b.SendAsync("from b"u8.ToArray(), WebSocketMessageType.Text);
        // The first message a gets is b's: its own was never sent back to it.
        await AssertReceivesAsync(a, WebSocketMessageType.Text, "from b"u8.ToArray());
        await AssertReceivesAsync(c, WebSocketMessageType.Text, "from b"u8.ToArray());
        Assert.Equal(2, hub.Messages);
        Assert.Equal(0, hub.Drops);
    }

    [Fact]
    public async Task Topics_AreIsolated_AndALoneMembersMessageGoesNowhere()
    {
        var hub = new RelayHub(NullLogger.Instance);
        await using var a1 = await TopicMember.JoinAsync(hub, "/a");
        await using var a2 = await TopicMember.JoinAsync(hub, "/a");
        await using var b1 = await TopicMember.JoinAsync(hub, "/b");
        await using var b2 = await TopicMember.JoinAsync(hub, "/b");
        await using var alone = await TopicMember.JoinAsync(hub, "/c");
        Assert.Equal(new Dictionary<string, int> { ["/a"] = 2, ["/b"] = 2, ["/c"] = 1 }, hub.Topics);

        await alone.SendAsync("nobody"u8.ToArray(), WebSocketMessageType.Text);
        await a1.SendAsync("for a"u8.ToArray(), WebSocketMessageType.Text);
        await b1.SendAsync("for b"u8.ToArray(), WebSocketMessageType.Text);
        await AssertReceivesAsync(a2, WebSocketMessageType.Text, "for a"u8.ToArray());
        await AssertReceivesAsync(b2, WebSocketMessageType.Text, "for b"u8.ToArray());

        // What each sender gets next is from its own topic: nothing crossed over before it.
        await a2.SendAsync("a2"u8.ToArray(), WebSocketMessageType.Text);
        await b2.SendAsync("b2"u8.ToArray(), WebSocketMessageType.Text);
        await AssertReceivesAsync(a1, WebSocketMessageType.Text, "a2"u8.ToArray());
        await AssertReceivesAsync(b1, WebSocketMessageType.Text, "b2"u8.ToArray());
        Assert.Equal(4, hub.Messages);
    }

    [Fact]
    public async Task AMemberThatDoesNotRead_LosesMessagesBeyondItsBoundedQueue_Counted_WithoutHoldingUpTheOthers()
    {
        const int Count = 300;
        const int Bytes = 64 * 1024;
        var hub = new RelayHub(NullLogger.Instance);
        await using var sender = await TopicMember.JoinAsync(hub, "/video");
        await using var reader = await TopicMember.JoinAsync(hub, "/video");
        // Small socket buffers: the stalled member's connection holds next to nothing, so its queue fills.
        await using var stalled = await TopicMember.JoinAsync(hub, "/video", socketBufferBytes: 4096);

        var sending = Task.Run(async () =>
        {
            for (var index = 0; index < Count; index++)
            {
                await sender.SendAsync(Numbered(index, Bytes), WebSocketMessageType.Binary);
            }
        });

        for (var index = 0; index < Count; index++)
        {
            await AssertReceivesAsync(reader, WebSocketMessageType.Binary, Numbered(index, Bytes));
        }

        await sending.WaitAsync(s_timeout);
        // The reader has every message, so every broadcast is done and the count is final.
        var drops = hub.Drops;
        Assert.InRange(drops, 1, Count - 1);

        // The stalled member now reads: it gets the oldest messages, in order, and exactly those not dropped.
        var kept = (int)(Count - drops);
        for (var index = 0; index < kept; index++)
        {
            await AssertReceivesAsync(stalled, WebSocketMessageType.Binary, Numbered(index, Bytes));
        }

        // Bounded: its queue (256 messages) and the one message its send loop had in hand, no more.
        Assert.InRange(kept, 1, 256 + 2);
        await sender.SendAsync("after"u8.ToArray(), WebSocketMessageType.Text);
        await AssertReceivesAsync(stalled, WebSocketMessageType.Text, "after"u8.ToArray());
        await AssertReceivesAsync(reader, WebSocketMessageType.Text, "after"u8.ToArray());
        Assert.Equal(Count + 1, hub.Messages);
        Assert.Equal(drops, hub.Drops);
    }

    [Fact]
    public async Task AMemberThatDoesNotRead_HoldsNoMoreThanItsByteBudget_OfLargeMessages()
    {
        const int Count = 60;
        const int Bytes = 256 * 1024;
        var hub = new RelayHub(NullLogger.Instance, new RelayLimits { MaxQueuedBytes = 1024 * 1024, SendTimeout = TimeSpan.Zero, IdleTimeout = TimeSpan.Zero });
        await using var sender = await TopicMember.JoinAsync(hub, "/big");
        await using var reader = await TopicMember.JoinAsync(hub, "/big");
        await using var stalled = await TopicMember.JoinAsync(hub, "/big", socketBufferBytes: 4096);

        // In lockstep with the reader, so that only the stalled member's queue ever fills.
        for (var index = 0; index < Count; index++)
        {
            await sender.SendAsync(Numbered(index, Bytes), WebSocketMessageType.Binary);
            await AssertReceivesAsync(reader, WebSocketMessageType.Binary, Numbered(index, Bytes));
        }

        // 256 messages would be 64 MiB held for it; the budget is 1 MiB: 4 queued and the one its send loop holds.
        Assert.InRange(hub.MessagesInFlight, 1, 5);
        var kept = (int)(Count - hub.Drops);
        Assert.InRange(kept, 1, 5);
        for (var index = 0; index < kept; index++)
        {
            await AssertReceivesAsync(stalled, WebSocketMessageType.Binary, Numbered(index, Bytes));
        }
    }

    [Fact]
    public async Task MembersLeaving_EmptyTheTopic_AndEveryMessageBufferGoesBackToThePool()
    {
        var hub = new RelayHub(NullLogger.Instance);
        var sender = await TopicMember.JoinAsync(hub, "/t");
        var stalled = await TopicMember.JoinAsync(hub, "/t", socketBufferBytes: 4096);
        for (var index = 0; index < 50; index++)
        {
            await sender.SendAsync(Numbered(index, 64 * 1024), WebSocketMessageType.Binary);
        }

        await WaitUntilAsync(() => hub.Messages == 50, "the hub to relay 50 messages");
        Assert.True(hub.MessagesInFlight > 0, "the stalled member's queue holds messages");

        await stalled.DisposeAsync();
        await sender.DisposeAsync();
        Assert.Equal(0, hub.Clients);
        Assert.Empty(hub.Topics);
        Assert.Equal(0, hub.MessagesInFlight);
    }

    private static byte[] Numbered(int index, int bytes)
    {
        var data = new byte[bytes];
        data.AsSpan().Fill((byte)index);
        BinaryPrimitives.WriteInt32LittleEndian(data, index);
        return data;
    }

    private static async Task AssertReceivesAsync(TopicMember member, WebSocketMessageType type, byte[] expected)
    {
        var (receivedType, received) = await member.ReceiveAsync();
        Assert.Equal(type, receivedType);
        if (!received.AsSpan().SequenceEqual(expected))
        {
            Assert.Fail($"Expected {expected.Length} bytes starting {Convert.ToHexString(expected, 0, Math.Min(8, expected.Length))}, got {received.Length} starting {Convert.ToHexString(received, 0, Math.Min(8, received.Length))} ({Encoding.UTF8.GetString(received, 0, Math.Min(16, received.Length))}).");
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < s_timeout, $"Timed out waiting for {what}.");
            await Task.Delay(5);
        }
    }

    /// <summary>One topic member: a client WebSocket whose server end the hub serves, over loopback TCP.</summary>
    private sealed class TopicMember : IAsyncDisposable
    {
        private readonly WebSocket _hubSide;
        private readonly Task _served;
        private bool _disposed;

        private TopicMember(WebSocket client, WebSocket hubSide, Task served)
        {
            Client = client;
            _hubSide = hubSide;
            _served = served;
        }

        public WebSocket Client { get; }

        public static async Task<TopicMember> JoinAsync(RelayHub hub, string topic, int? socketBufferBytes = null)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if (socketBufferBytes is { } clientBytes)
            {
                client.ReceiveBufferSize = clientBytes; // before connecting, so the window is small from the start
            }

            var accepting = listener.AcceptSocketAsync();
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint).WaitAsync(s_timeout);
            var server = await accepting.WaitAsync(s_timeout);
            if (socketBufferBytes is { } serverBytes)
            {
                server.SendBufferSize = serverBytes;
            }

            var hubSide = WebSocket.CreateFromStream(new NetworkStream(server, ownsSocket: true), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            var clientSide = WebSocket.CreateFromStream(new NetworkStream(client, ownsSocket: true), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
            var members = hub.Topics.GetValueOrDefault(topic);
            var served = hub.ServeAsync(hubSide, topic, CancellationToken.None);
            await WaitUntilAsync(() => hub.Topics.GetValueOrDefault(topic) == members + 1, $"a member to join {topic}");
            return new TopicMember(clientSide, hubSide, served);
        }

        public async Task SendAsync(byte[] data, WebSocketMessageType type)
        {
            using var timeout = new CancellationTokenSource(s_timeout);
            await Client.SendAsync(data, type, endOfMessage: true, timeout.Token);
        }

        public async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync()
        {
            using var timeout = new CancellationTokenSource(s_timeout);
            using var data = new MemoryStream();
            var buffer = new byte[16 * 1024];
            while (true)
            {
                var result = await Client.ReceiveAsync(buffer, timeout.Token);
                data.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    return (result.MessageType, data.ToArray());
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            // Aborting (not closing) also frees a hub send stuck on a member that stopped reading.
            Client.Abort();
            Client.Dispose();
            await _served.WaitAsync(s_timeout);
            _hubSide.Dispose();
        }
    }
}
