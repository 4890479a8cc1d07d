using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Routing;
using static Osprey.Tests.Routing.RelayTesting;

namespace Osprey.Tests.Routing;

/// <summary>The reconnect schedule, on a clock the test moves, against real sockets on loopback.</summary>
[Trait("Needs", "Socket")]
public class DestinationBackoffTests
{
    [Fact]
    public async Task FailedDials_AreRetriedAfter1_2_4_8_Then10Seconds_OnTheClock()
    {
        var time = new ManualTimeProvider();
        var port = UnusedPort();
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance, time);
        registry.Set(new DestinationRule("0", "x", $"ws://127.0.0.1:{port}/in/video0", ""));

        var delays = new List<double>();
        for (var reconnects = 0; reconnects < 7; reconnects++)
        {
            var delay = await NextRetryAsync(registry, reconnects);
            delays.Add(delay);
            // Nothing happens before the delay is over...
            time.Advance(TimeSpan.FromSeconds(delay - 0.25));
            await Task.Delay(20);
            var waiting = StatusOf(registry, "0");
            Assert.Equal(reconnects, waiting.Reconnects);
            Assert.Equal(0.25, waiting.RetryInSeconds!.Value, precision: 6);
            Assert.Equal(DestinationState.Reconnecting, waiting.State);
            Assert.Contains("refused", waiting.LastError, StringComparison.OrdinalIgnoreCase);
            // ...and the client dials again when it is.
            time.Advance(TimeSpan.FromSeconds(0.25));
        }

        Assert.Equal([1, 2, 4, 8, 10, 10, 10], delays);
    }

    [Fact]
    public async Task AConnectionThatStood_ResetsTheBackoff_AndOneThatDidNot_DoesNot()
    {
        var time = new ManualTimeProvider();
        await using var relay = await TestRelay.StartAsync();
        relay.Mode = RelayMode.Reject;
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance, time);
        registry.Set(new DestinationRule("0", "x", relay.Url(), ""));

        Assert.Equal(1, await NextRetryAsync(registry, reconnects: 0));
        Assert.Contains("refused the WebSocket upgrade", StatusOf(registry, "0").LastError); // the relay answered 503
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, await NextRetryAsync(registry, reconnects: 1));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(4, await NextRetryAsync(registry, reconnects: 2));

        // Connected, but closed at once: not a connection that stood, so the backoff goes on.
        relay.Mode = RelayMode.CloseAtOnce;
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(8, await NextRetryAsync(registry, reconnects: 3));
        Assert.Equal("the relay closed the connection (1000)", StatusOf(registry, "0").LastError); // not its description, the relay's text
        Assert.Equal(1, relay.Connections);

        // Connected for as long as it takes to stand, then lost: the next dial is 1 s away again.
        relay.Mode = RelayMode.Accept;
        time.Advance(TimeSpan.FromSeconds(8));
        await WaitUntilAsync(() => relay.OpenConnections == 1 && StatusOf(registry, "0").State == DestinationState.Connected, "the connection");
        time.Advance(DestinationRegistry.StoodAfter);
        await relay.CloseConnectionsAsync();
        Assert.Equal(1, await NextRetryAsync(registry, reconnects: 4));
        Assert.Contains("(1001)", StatusOf(registry, "0").LastError);
    }

    [Fact]
    public async Task RelayThatNeverAnswersTheToken_IsGivenUpOnAfter10Seconds_AndDialledAgain()
    {
        var time = new ManualTimeProvider();
        await using var relay = await TestRelay.StartAsync();
        relay.Mode = RelayMode.IgnoreToken;
        await using var registry = new DestinationRegistry(_ => null, null, NullLoggerFactory.Instance, time);
        registry.Set(new DestinationRule("0", "x", relay.Url(), "a token"));
        await WaitUntilAsync(() => !relay.Tokens.IsEmpty, "the token");

        time.Advance(TimeSpan.FromSeconds(9.5));
        await Task.Delay(50);
        Assert.Equal(DestinationState.Connecting, StatusOf(registry, "0").State); // not connected until authorised
        Assert.Null(StatusOf(registry, "0").RetryInSeconds);
        time.Advance(TimeSpan.FromSeconds(0.5));
        await WaitUntilAsync(() => StatusOf(registry, "0").RetryInSeconds is not null, "the client to give up");

        var status = StatusOf(registry, "0");
        Assert.Equal("the relay did not answer the token within 10 s", status.LastError);
        Assert.Equal(1, status.RetryInSeconds);
        Assert.Equal(DestinationState.Reconnecting, status.State);
    }

    /// <summary>Waits for the client to be waiting out its backoff after <paramref name="reconnects"/> redials; returns the delay.</summary>
    private static async Task<double> NextRetryAsync(DestinationRegistry registry, long reconnects)
    {
        await WaitUntilAsync(
            () => StatusOf(registry, "0") is { RetryInSeconds: not null } status && status.Reconnects == reconnects,
            $"a backoff after {reconnects} redials");
        var waiting = StatusOf(registry, "0");
        Assert.Equal(DestinationState.Reconnecting, waiting.State);
        return waiting.RetryInSeconds!.Value;
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
