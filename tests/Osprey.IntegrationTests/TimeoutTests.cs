using System.Diagnostics;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>Send and idle timeouts after the upgrade, with short timeouts configured on the command line.</summary>
[Trait("Needs", "Socket")]
public class TimeoutTests
{
    [Fact]
    public async Task AViewerWhoseSocketTakesNothing_IsDroppedAfterTheSendTimeout_AndCounted_WhileAReadingViewerKeepsGoing()
    {
        await using var server = await OspreyProcess.StartAsync("--send-timeout", "2", "--source", "test=testpattern:?width=640&height=480&fps=30");
        using var reading = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"));
        using var stalled = await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/test/raw", receiveBuffer: 4096);
        var connected = Stopwatch.StartNew();
        // The reading viewer reads throughout (4 s of frames), through and past the stalled one's drop.
        var readingAll = reading.ReceiveFramesAsync(120, TimeSpan.FromSeconds(20));

        using var http = new HttpClient();
        var dropped = await PollAsync(http, server.Http("api/feeds/test"), f => f.GetProperty("viewersDropped").GetInt64() == 1, TimeSpan.FromSeconds(10));
        Assert.True(dropped, $"the stalled viewer was not dropped. Output:\n{server.Output}");
        Assert.True(connected.Elapsed >= TimeSpan.FromSeconds(2), $"dropped after {connected.Elapsed}, before its timeout");
        Assert.True(await PollAsync(http, server.Http("api/feeds/test"), f => f.GetProperty("viewers").GetInt32() == 1, TimeSpan.FromSeconds(5)));
        await readingAll;
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test")));
        Assert.Equal(1, feed.RootElement.GetProperty("viewersDropped").GetInt64());
        Assert.Contains("its socket took nothing for 2 s", server.Output);
    }

    [Fact]
    public async Task AnIdleTopicClient_IsDroppedAfterTheIdleTimeout_ButOneThatPings_Stays()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--idle-timeout", "2");
        using var idle = await RawSocketViewer.ConnectAsync(server.BaseUri, "/topic/idle");
        using var pinging = await RawSocketViewer.ConnectAsync(server.BaseUri, "/topic/idle");
        var elapsed = Stopwatch.StartNew();
        var pings = Task.Run(async () =>
        {
            // A ping every 500 ms for 5 s, each answered with a pong.
            for (var i = 0; i < 10; i++)
            {
                await pinging.SendMaskedFrameAsync(0x9, "hi"u8.ToArray());
                var (first, length) = await pinging.ReadFrameHeaderAsync(TimeSpan.FromSeconds(5));
                Assert.Equal(0x8A, first);
                await pinging.ReadPayloadAsync(length, keep: false);
                await Task.Delay(500);
            }
        });

        // The idle one's connection ends, without a close frame (it is aborted: a stalled socket would never take one).
        var end = await idle.ReadCloseAsync(TimeSpan.FromSeconds(10));
        Assert.True(elapsed.Elapsed >= TimeSpan.FromSeconds(2), $"dropped after {elapsed.Elapsed}, before its timeout");
        Assert.Null(end);
        await pings.WaitAsync(TimeSpan.FromSeconds(20));

        using var http = new HttpClient();
        using var relay = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/relay")));
        Assert.Equal(1, relay.RootElement.GetProperty("topicClientsDropped").GetInt64());
        Assert.Contains("it sent and was sent nothing for 2 s", server.Output);
    }

    private static async Task<bool> PollAsync(HttpClient http, Uri uri, Func<JsonElement, bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync(uri));
            if (condition(doc.RootElement))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
