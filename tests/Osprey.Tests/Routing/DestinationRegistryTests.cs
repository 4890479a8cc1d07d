using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Routing;
using static Osprey.Tests.Routing.RelayTesting;

namespace Osprey.Tests.Routing;

/// <summary>Destinations pushing a real feed to a real WebSocket relay on loopback, on the system clock.</summary>
[Trait("Needs", "Socket")]
[Collection(RelayTimingCollection.Name)]
public class DestinationRegistryTests
{
    [Fact]
    public async Task Frames_ArriveAsBinaryMessages_InOrder_WithTheStreamHeaderFirst_AndAgainWhenItChanges()
    {
        await using var relay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(name => name == "x" ? feed : null, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Connected, "the connection");

        for (var i = 1; i <= 20; i++)
        {
            Publish(feed, i, key: i % 10 == 1);
        }

        await WaitUntilAsync(() => relay.Messages.Count == 21, "header and frames 1-20");

        // New PAT/PMT: the header goes again, right before the first frame that needs it.
        feed.Header = new StreamHeader(2, "video/mp2t", Psi(2));
        for (var i = 21; i <= 25; i++)
        {
            Publish(feed, i, key: i == 21, headerVersion: 2);
        }

        await WaitUntilAsync(() => relay.Messages.Count == 27, "27 messages");
        var messages = relay.Messages.ToList();
        Assert.All(messages, m => Assert.Equal(WebSocketMessageType.Binary, m.Type));
        Assert.All(messages, m => Assert.Equal("/in/video0", m.Path));
        Assert.True(IsHeader(messages[0], 1), "the stream header is the first message");
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), messages.Skip(1).Take(20).Select(m => m.Index));
        Assert.True(IsHeader(messages[21], 2), "the new header precedes the frames that need it");
        Assert.Equal(Enumerable.Range(21, 5).Select(i => (long)i), messages.Skip(22).Select(m => m.Index));
        Assert.All(messages.Skip(1).Where(m => !IsHeader(m, 2)), m => Assert.Equal(FrameBytes, m.Data.Length));

        var status = StatusOf(registry, "0");
        Assert.Equal(27, status.MessagesSent);
        Assert.Equal((25 * FrameBytes) + (2 * Psi(1).Length), status.BytesSent);
        Assert.Equal(0, status.Drops);
        Assert.Equal(0, status.Reconnects);
        Assert.Null(status.LastError);
        Assert.Null(status.RetryInSeconds);
        Assert.Equal(1, relay.Connections);
    }

    [Fact]
    public async Task SecureRelay_IsPushedToOverWss_AfterItsCertificateIsChecked()
    {
        using var certificate = TestRelay.CreateCertificate();
        await using var relay = await TestRelay.StartAsync(certificate: certificate);
        using var feed = NewFeed();
        Publish(feed, 1, key: true);
        var presented = new ConcurrentQueue<string>();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance)
        {
            // Trust exactly the relay's self-signed certificate, and note that it was the one presented.
            CertificateValidation = (_, cert, _, _) =>
            {
                presented.Enqueue(cert?.GetCertHashString() ?? "");
                return cert?.GetCertHashString() == certificate.GetCertHashString();
            },
        };
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));
        Publish(feed, 2);

        Assert.StartsWith("wss://", relay.Url());
        await WaitUntilAsync(() => relay.Messages.Count == 3, "header and frames over TLS");
        Assert.True(IsHeader(relay.Messages.First(), 1));
        Assert.Equal([1L, 2], relay.Messages.Skip(1).Select(m => m.Index));
        Assert.Equal(certificate.GetCertHashString(), Assert.Single(presented));
    }

    [Fact]
    public async Task SecureRelayWithAnUntrustedCertificate_IsNotPushedTo_AndSaysWhy()
    {
        using var certificate = TestRelay.CreateCertificate();
        await using var relay = await TestRelay.StartAsync(certificate: certificate);
        using var feed = NewFeed();
        Publish(feed, 1, key: true);
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));

        await WaitUntilAsync(() => StatusOf(registry, "0").RetryInSeconds is not null, "the failure");
        Assert.Contains("certificate", StatusOf(registry, "0").LastError, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(relay.Messages);
    }

    [Fact]
    public async Task WhatTheRelaySends_IsReadAndCounted_AndIgnoredByADataDestination()
    {
        await using var relay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, _ => "must not be called for data rules", NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));
        await WaitUntilAsync(() => relay.OpenConnections == 1, "the connection");

        await relay.SendToAllAsync("""{"verb":"healthcheck"}""");
        await relay.SendToAllAsync("binary noise", WebSocketMessageType.Binary);
        await WaitUntilAsync(() => StatusOf(registry, "0").MessagesReceived == 2, "both messages counted");

        Publish(feed, 1, key: true);
        await WaitUntilAsync(() => relay.Messages.Count == 2, "header and frame");
        Assert.DoesNotContain(relay.Messages, m => m.Type == WebSocketMessageType.Text);
        Assert.Equal(DestinationState.Connected, StatusOf(registry, "0").State);
    }

    [Fact]
    public async Task ControlRule_AnswersTheRelaysTextCommands_AsText()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var registry = new DestinationRegistry(
            _ => throw new InvalidOperationException("a control rule never resolves a feed"),
            command => command == """{"verb":"healthcheck"}""" ? """{"healthcheck":"ok"}""" : null,
            NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("apiRule", DestinationRegistry.ControlStream, relay.Url("/bi/api"), ""));
        await WaitUntilAsync(() => relay.OpenConnections == 1, "the connection");

        await relay.SendToAllAsync("not a command"); // no reply
        await relay.SendToAllAsync("""{"verb":"healthcheck"}""");
        await WaitUntilAsync(() => relay.Messages.Count == 1, "the reply");

        var reply = Assert.Single(relay.Messages);
        Assert.Equal(WebSocketMessageType.Text, reply.Type);
        Assert.Equal("""{"healthcheck":"ok"}""", reply.Text);
        Assert.Equal("/bi/api", reply.Path);
        var status = StatusOf(registry, "apiRule");
        Assert.Equal(2, status.MessagesReceived);
        Assert.Equal(1, status.MessagesSent);
    }

    [Fact]
    public async Task Token_IsTheFirstMessage_AsText_AndTheRelaysAuthorisedReply_LetsFramesFlow()
    {
        await using var relay = await TestRelay.StartAsync();
        const string Token = "eyJhbGciOiJIUzI1NiJ9.e30.signature";
        relay.ExpectedToken = Token;
        using var feed = NewFeed();
        Publish(feed, 1, key: true);
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), Token));

        await WaitUntilAsync(() => relay.Messages.Count == 2, "header and cached frame after authorisation");
        Assert.Equal(Token, Assert.Single(relay.Tokens));
        Assert.True(IsHeader(relay.Messages.First(), 1));
        Assert.Equal(1, relay.Messages.Last().Index);
        Assert.Equal(DestinationState.Connected, StatusOf(registry, "0").State);
    }

    [Fact]
    public async Task RefusedToken_IsALastError_AndTheClientBacksOff_WithoutSendingFrames()
    {
        await using var relay = await TestRelay.StartAsync();
        relay.ExpectedToken = "the right token";
        using var feed = NewFeed();
        Publish(feed, 1, key: true);
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), "an expired token"));

        await WaitUntilAsync(() => StatusOf(registry, "0").RetryInSeconds is not null, "the backoff");
        var status = StatusOf(registry, "0");
        Assert.Equal(DestinationState.Reconnecting, status.State);
        Assert.Contains("refused the token", status.LastError);
        Assert.DoesNotContain("token expired", status.LastError); // crossbar's reason is the relay's text, not repeated
        Assert.InRange(status.RetryInSeconds!.Value, 0.5, 1);
        Assert.Equal("an expired token", Assert.Single(relay.Tokens));
        Assert.Empty(relay.Messages);
    }

    [Fact]
    public async Task InvalidUrls_AreLastErrors_NotExceptions_AndTheRuleIsStoredAsGiven()
    {
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance);
        var cases = new Dictionary<string, string>
        {
            ["empty"] = "",
            ["http"] = "http://127.0.0.1:1/in/video0",
            ["userinfo"] = "ws://user:secret@127.0.0.1:1/in/video0",
            ["relative"] = "in/video0",
        };
        foreach (var (id, url) in cases)
        {
            Assert.Equal(new DestinationRule(id, "x", url, ""), registry.Set(new DestinationRule(id, "x", url, "")));
        }

        await WaitUntilAsync(() => registry.Status.All(s => s.RetryInSeconds is not null), "every client to back off");
        Assert.Contains("empty", StatusOf(registry, "empty").LastError);
        Assert.Contains("ws:// or wss://", StatusOf(registry, "http").LastError);
        Assert.Contains("user name or password", StatusOf(registry, "userinfo").LastError);
        Assert.Contains("not an absolute URL", StatusOf(registry, "relative").LastError);
        Assert.DoesNotContain("secret", StatusOf(registry, "userinfo").LastError);
        Assert.All(registry.Status, s => Assert.Equal(DestinationState.Reconnecting, s.State));
        Assert.Equal(4, registry.Rules.Count);
    }

    [Fact]
    public async Task RelayStoppedAndRestartedOnTheSamePort_IsReconnectedTo_AndFramesMissedMeanwhileAreCountedAsDrops()
    {
        var relay = await TestRelay.StartAsync();
        var port = relay.Port;
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));
        for (var i = 1; i <= 5; i++)
        {
            Publish(feed, i, key: i == 1);
        }

        await WaitUntilAsync(() => relay.Messages.Count == 6, "header and frames 1-5");
        await relay.DisposeAsync();
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Reconnecting, "the loss to be noticed");
        Assert.NotNull(StatusOf(registry, "0").LastError);

        // Published while the relay is down: no reader is attached, so nothing queues. The feed keeps the group
        // from the latest key frame (16), which is what the relay gets on reconnecting; 6-15 are lost.
        for (var i = 6; i <= 20; i++)
        {
            Publish(feed, i, key: i % 5 == 1);
        }

        Assert.Equal(0, feed.ReaderCount);
        await using var restarted = await TestRelay.StartAsync(port);
        await WaitUntilAsync(() => restarted.Messages.Count == 6, "header and frames 16-20 after reconnecting", seconds: 8);
        Publish(feed, 21);
        await WaitUntilAsync(() => restarted.Messages.Count == 7, "a live frame");

        var messages = restarted.Messages.ToList();
        Assert.True(IsHeader(messages[0], 1), "the header goes first on every connection");
        Assert.Equal([16L, 17, 18, 19, 20, 21], messages.Skip(1).Select(m => m.Index));
        var status = StatusOf(registry, "0");
        Assert.Equal(DestinationState.Connected, status.State);
        Assert.Equal(10, status.Drops);
        Assert.True(status.Reconnects >= 1);
    }

    [Fact]
    public async Task ReconnectWithinTheCachedGroup_ResumesAfterTheLastFrameSent_WithoutDropsOrRepeats()
    {
        await using var relay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));
        for (var i = 1; i <= 3; i++)
        {
            Publish(feed, i, key: i == 1);
        }

        await WaitUntilAsync(() => relay.Messages.Count == 4, "header and frames 1-3");
        await relay.CloseConnectionsAsync();
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Reconnecting, "the close");
        Assert.Equal("the relay closed the connection (1001)", StatusOf(registry, "0").LastError); // its description is the relay's text, not repeated
        Publish(feed, 4);
        Publish(feed, 5);

        await WaitUntilAsync(() => relay.Messages.Count == 7, "header, 4 and 5 on the second connection", seconds: 4);
        var second = relay.Messages.Where(m => m.Connection == 2).ToList();
        Assert.True(IsHeader(second[0], 1));
        Assert.Equal([4L, 5], second.Skip(1).Select(m => m.Index));
        Assert.Equal(0, StatusOf(registry, "0").Drops);
    }

    [Fact]
    public async Task SettingANewUrl_MovesTheStreamToTheNewRelay_WhileTheFeedKeepsPublishing_AndNothingLaterReachesTheOld()
    {
        await using var oldRelay = await TestRelay.StartAsync();
        await using var newRelay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", oldRelay.Url(), ""));
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Connected, "the first connection");

        long published = 0;
        using var stopPublishing = new CancellationTokenSource();
        var publisher = Task.Run(async () =>
        {
            for (long i = 1; !stopPublishing.IsCancellationRequested; i++)
            {
                Publish(feed, i, key: i % 25 == 1);
                Volatile.Write(ref published, i);
                await Task.Delay(1);
            }
        });

        await WaitUntilAsync(() => oldRelay.Binary().Count > 50, "frames at the old relay");
        registry.Set(new DestinationRule("0", "x", newRelay.Url("/in/moved"), ""));
        // Frame published+1 may have been in Publish as Set returned; anything later must not reach the old relay.
        var lastBeforeSet = Volatile.Read(ref published) + 1;
        await WaitUntilAsync(() => newRelay.Binary().Count > 100, "frames at the new relay");
        await stopPublishing.CancelAsync();
        await publisher;

        Assert.All(oldRelay.Binary().Where(m => !IsHeader(m, 1)), m => Assert.True(m.Index <= lastBeforeSet, $"frame {m.Index} reached the old relay after the swap"));
        await WaitUntilAsync(() => !oldRelay.Closes.IsEmpty, "the old connection's close");
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "destination removed"), oldRelay.Closes.Single());

        var moved = newRelay.Binary();
        Assert.True(IsHeader(moved[0], 1));
        var indices = moved.Skip(1).Select(m => m.Index).ToList();
        Assert.Equal(Enumerable.Range((int)indices[0], indices.Count).Select(i => (long)i), indices); // gap-free
        Assert.Equal(1, indices[0] % 25); // starts at a key frame
        Assert.Equal("/in/moved", moved[0].Path);
        Assert.Equal(1, registry.ActiveClients);
        Assert.Equal(newRelay.Url("/in/moved"), StatusOf(registry, "0").Destination);
    }

    [Fact]
    public async Task StalledRelay_CostsCountedDrops_AndBoundedMemory_WithoutHoldingUpAnotherDestination()
    {
        await using var stalled = await TestRelay.StartAsync();
        stalled.Mode = RelayMode.Stall;
        await using var healthy = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance) { QueueCapacity = 16 };
        registry.Set(new DestinationRule("stalled", "x", stalled.Url(), ""));
        registry.Set(new DestinationRule("healthy", "x", healthy.Url(), ""));
        await WaitUntilAsync(() => registry.Status.All(s => s.State == DestinationState.Connected), "both connections");

        // 480 frames of 128 KiB (60 MB): far more than socket buffers hold for a relay that does not read.
        const int FrameSize = 128 * 1024;
        const int Batches = 60;
        long maxOutstanding = 0;
        for (var batch = 0; batch < Batches; batch++)
        {
            for (var i = 1; i <= 8; i++)
            {
                var index = (batch * 8) + i;
                Publish(feed, index, key: i == 1, bytes: FrameSize);
            }

            var expected = ((batch + 1) * 8) + 1;
            await WaitUntilAsync(() => healthy.Messages.Count == expected, $"the healthy relay to have batch {batch}");
            maxOutstanding = Math.Max(maxOutstanding, feed.Pool.Outstanding);
        }

        var healthyStatus = StatusOf(registry, "healthy");
        Assert.Equal(Enumerable.Range(1, Batches * 8).Select(i => (long)i), healthy.Binary().Skip(1).Select(m => m.Index));
        Assert.Equal(0, healthyStatus.Drops);

        var stalledStatus = StatusOf(registry, "stalled");
        Assert.Equal(DestinationState.Connected, stalledStatus.State);
        Assert.True(stalledStatus.Drops > Batches * 8 / 2, $"only {stalledStatus.Drops} drops counted");
        Assert.True(stalledStatus.MessagesSent + stalledStatus.Drops <= (Batches * 8) + 1);
        // Frames out of the pool: the stalled queue (16), its frame stuck in a send, the cached group (8) and the
        // healthy destination's few; never the 480 published.
        Assert.True(maxOutstanding <= 16 + 1 + 8 + 8, $"{maxOutstanding} frames were held");

        // Removing the stalled destination does not wait for the relay to read.
        var watch = Stopwatch.StartNew();
        Assert.True(registry.Remove("stalled"));
        await WaitUntilAsync(() => registry.ActiveClients == 1, "the stalled client to end", seconds: 2);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1.5), $"ending took {watch.Elapsed}");
    }

    [Fact]
    public async Task Remove_AndRemoveAll_EndTheirClientsWithinASecond_ClosingWith1000()
    {
        await using var relay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);
        foreach (var id in new[] { "a", "b", "c" })
        {
            registry.Set(new DestinationRule(id, "x", relay.Url($"/in/{id}"), ""));
        }

        await WaitUntilAsync(() => relay.OpenConnections == 3 && registry.Status.All(s => s.State == DestinationState.Connected), "three connections");
        Assert.Equal(3, registry.ActiveClients);

        Assert.True(registry.Remove("b"));
        Assert.False(registry.Remove("b"));
        Assert.False(registry.TryGet("b", out _));
        await WaitUntilAsync(() => registry.ActiveClients == 2 && relay.OpenConnections == 2, "b to end", seconds: 3);
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "destination removed"), relay.Closes.Single());

        Assert.Equal(2, registry.RemoveAll());
        await WaitUntilAsync(() => registry.ActiveClients == 0 && relay.OpenConnections == 0, "a and c to end", seconds: 3);
        Assert.Equal(3, relay.Closes.Count(c => c.Status == WebSocketCloseStatus.NormalClosure));
        Assert.Empty(registry.Rules);
        Assert.Empty(registry.Status);
        Assert.Equal(0, feed.ReaderCount);
    }

    [Fact]
    public async Task SetWithTheSameId_ReplacesTheRule_AndItsClient()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "x", relay.Url("/in/first"), ""));
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Connected, "the first connection");
        var stored = registry.Set(new DestinationRule("0", "y", relay.Url("/in/second"), ""));

        Assert.True(registry.TryGet("0", out var rule));
        Assert.Equal(stored, rule);
        Assert.Equal("y", rule.Stream);
        Assert.Equal(stored, Assert.Single(registry.Rules).Value);
        await WaitUntilAsync(() => registry.ActiveClients == 1 && !relay.Closes.IsEmpty, "the first client to end", seconds: 3);
    }

    [Fact]
    public async Task TwoHundredAddRemoveCycles_LeaveNoClientRunning_AndNoExtraThreads()
    {
        await using var relay = await TestRelay.StartAsync();
        using var feed = NewFeed();
        Publish(feed, 1, key: true);
        await using var registry = new DestinationRegistry(_ => feed, null, NullLoggerFactory.Instance);

        // Warm up the thread pool, sockets and the WebSocket client before counting threads.
        registry.Set(new DestinationRule("warm", "x", relay.Url(), ""));
        await WaitUntilAsync(() => relay.Messages.Count == 2, "the warm-up connection");
        registry.Remove("warm");
        await WaitUntilAsync(() => registry.ActiveClients == 0, "the warm-up client to end");
        var threadsBefore = ThreadCount();

        for (var cycle = 0; cycle < 200; cycle++)
        {
            var id = $"cycle{cycle % 7}";
            registry.Set(new DestinationRule(id, "x", relay.Url($"/in/{cycle}"), ""));
            if (cycle % 20 == 0)
            {
                // Some clients are torn down while connected and pushing, most while dialling.
                await WaitUntilAsync(() => StatusOf(registry, id).State == DestinationState.Connected, $"cycle {cycle} to connect");
            }

            registry.Remove(id);
        }

        await WaitUntilAsync(() => registry.ActiveClients == 0, "every client to end", seconds: 2);
        await WaitUntilAsync(() => relay.OpenConnections == 0, "every connection to close", seconds: 2);
        Assert.Equal(0, feed.ReaderCount);
        var threadsAfter = ThreadCount();
        // Other test classes run alongside, so allow the pool a little; a leak per cycle would be hundreds.
        Assert.True(threadsAfter <= threadsBefore + 16, $"threads went from {threadsBefore} to {threadsAfter}");
    }

    [Fact]
    public async Task StreamThatDoesNotExistYet_IsPushedOnceItAppears_AndAgainWhenItIsMadeAnew()
    {
        await using var relay = await TestRelay.StartAsync();
        var feeds = new ConcurrentDictionary<string, Feed>();
        await using var registry = new DestinationRegistry(name => feeds.GetValueOrDefault(name), null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("0", "later", relay.Url(), ""));
        await WaitUntilAsync(() => StatusOf(registry, "0").State == DestinationState.Connected, "the connection without a feed");

        var first = NewFeed("later");
        feeds["later"] = first;
        Publish(first, 1, key: true);
        Publish(first, 2);
        await WaitUntilAsync(() => relay.Messages.Count == 3, "header and frames of the first feed");

        // The stream is deleted and made again: a new Feed object under the same name, with its own header.
        first.Dispose();
        var second = NewFeed("later", headerVersion: 7);
        Publish(second, 100, key: true, headerVersion: 7);
        feeds["later"] = second;
        Publish(second, 101, headerVersion: 7);
        await WaitUntilAsync(() => relay.Messages.Count == 6, "header and frames of the second feed");

        var messages = relay.Messages.ToList();
        Assert.True(IsHeader(messages[0], 1));
        Assert.Equal([1L, 2], messages.Skip(1).Take(2).Select(m => m.Index));
        Assert.True(IsHeader(messages[3], 7));
        Assert.Equal([100L, 101], messages.Skip(4).Select(m => m.Index));
        Assert.Equal(1, relay.Connections); // one connection throughout
        Assert.Equal(0, StatusOf(registry, "0").Drops);
        second.Dispose();
    }

    [Fact]
    public async Task DisposeAsync_StopsEveryClient_AndTheRegistryRefusesNewRules()
    {
        await using var relay = await TestRelay.StartAsync();
        var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance);
        registry.Set(new DestinationRule("a", "x", relay.Url(), ""));
        registry.Set(new DestinationRule("b", "x", "ws://127.0.0.1:1/unreachable", ""));
        await WaitUntilAsync(() => StatusOf(registry, "a").State == DestinationState.Connected, "a's connection");

        await registry.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
        Assert.Equal(0, registry.ActiveClients);
        await WaitUntilAsync(() => relay.OpenConnections == 0, "a's connection to close", seconds: 3);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, relay.Closes.Single().Status);
        Assert.Throws<ObjectDisposedException>(() => registry.Set(new DestinationRule("c", "x", relay.Url(), "")));
        await registry.DisposeAsync(); // idempotent
    }

    private static int ThreadCount()
    {
        using var process = Process.GetCurrentProcess();
        return process.Threads.Count;
    }

    [Fact]
    public async Task DestinationRulesFromClients_PastTheLimit_AreRefusedAndCounted_AndMakeNoClient()
    {
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance);
        for (var i = 0; i < DestinationRegistry.DefaultMaxDestinations; i++)
        {
            Assert.Equal(RuleRefusal.None, registry.TrySet(new DestinationRule($"{i}", "s", "ws://127.0.0.1:9/in/x", ""), out _, out _));
        }

        Assert.Equal(RuleRefusal.Limit, registry.TrySet(new DestinationRule("extra", "s", "ws://127.0.0.1:9/in/x", ""), out _, out var error));
        Assert.Contains("--max-destinations", error, StringComparison.Ordinal);
        Assert.Equal(RuleRefusal.None, registry.TrySet(new DestinationRule("5", "s", "ws://127.0.0.1:9/in/y", ""), out _, out _));
        Assert.Equal(1, registry.Refused);
        Assert.Equal(DestinationRegistry.DefaultMaxDestinations, registry.Rules.Count);
        Assert.False(registry.TryGet("extra", out _));
    }
}
