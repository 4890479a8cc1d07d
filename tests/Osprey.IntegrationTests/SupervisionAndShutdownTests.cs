using System.Net.WebSockets;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

public class SupervisionAndShutdownTests
{
    [Fact]
    public async Task FailingSource_IsRestarted_AndViewersStayConnectedThroughThePause()
    {
        // The pattern fails on purpose after 20 frames of each run; the supervisor restarts it after 1 s.
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=320&height=240&fps=30&failAfter=20");
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(45, TimeSpan.FromSeconds(20));

        Assert.Equal(WebSocketState.Open, viewer.Socket.State);
        Assert.Equal(0, viewer.TornFrames);
        for (var i = 1; i < viewer.Headers.Count; i++)
        {
            Assert.True(viewer.Headers[i].Counter > viewer.Headers[i - 1].Counter);
        }

        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test")));
        Assert.True(feed.RootElement.GetProperty("restarts").GetInt64() >= 1);
        Assert.Contains("Feed test: source testpattern", server.Output);
    }

    [Fact]
    public async Task OperatorRestartThroughTheApi_KeepsViewersConnected()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/raw"));
        await viewer.ReceiveFramesAsync(5, TimeSpan.FromSeconds(10));
        using var http = new HttpClient();
        var response = await http.PostAsync(server.Http("api/feeds/cam/restart"), null);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        await viewer.ReceiveFramesAsync(10, TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketState.Open, viewer.Socket.State);
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        Assert.Equal(1, feed.RootElement.GetProperty("restarts").GetInt64());
    }

    [Fact]
    public async Task Sigterm_ClosesEveryViewerWithACloseFrame_AndExitsWithinTwoSeconds()
    {
        var server = await OspreyProcess.StartAsync();
        await using var _ = server;
        var viewers = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"))));
        using var stalled = await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/test/raw", receiveBuffer: 4096);
        await Task.WhenAll(viewers.Select(v => v.ReceiveFramesAsync(3, TimeSpan.FromSeconds(10))));
        await Task.Delay(500); // let the stalled viewer's buffers fill

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        server.Terminate();
        var closes = viewers.Select(async v =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            while (await v.ReceiveFrameAsync(cts.Token) >= 0)
            {
            }

            return v.Socket.CloseStatus;
        }).ToArray();
        var statuses = await Task.WhenAll(closes);
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        stopwatch.Stop();

        Assert.All(statuses, s => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, s));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"exit took {stopwatch.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(0, server.ExitCode);
        foreach (var viewer in viewers)
        {
            viewer.Dispose();
        }
    }

    [Fact]
    [Trait("Needs", "Socket")]
    public async Task Sigterm_WithAHundredStalledViewers_StillClosesEveryPoliteViewerWith1001_AndExitsWithinTwoSeconds()
    {
        var server = await OspreyProcess.StartAsync("--max-viewers-per-feed", "200");
        await using var _ = server;
        var stalled = new List<RawSocketViewer>();
        for (var i = 0; i < 100; i++)
        {
            // Small receive buffers and never a read: each one's send is stuck with most of a frame unsent.
            stalled.Add(await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/test/raw", receiveBuffer: 4096));
        }

        var polite = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"))));
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // The polite viewers read all along, until the server's close.
        var closes = polite.Select(async v =>
        {
            while (await v.ReceiveFrameAsync(reading.Token) >= 0)
            {
            }

            return v.Socket.CloseStatus;
        }).ToArray();
        await Task.Delay(1500); // every stalled viewer's buffers fill

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        server.Terminate();
        var statuses = await Task.WhenAll(closes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        stopwatch.Stop();

        Assert.All(statuses, s => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, s));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"exit took {stopwatch.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(0, server.ExitCode);
        foreach (var viewer in polite)
        {
            viewer.Dispose();
        }

        stalled.ForEach(v => v.Dispose());
    }
}
