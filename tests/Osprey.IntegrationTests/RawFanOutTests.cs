using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

public class RawFanOutTests(DefaultServerFixture fixture) : IClassFixture<DefaultServerFixture>
{
    private const int FrameSize = 640 * 480 * 2;
    private readonly OspreyProcess _server = fixture.Server;

    [Fact]
    public async Task TwentyViewers_EachReceiveWhole614400ByteFrames_WithIncreasingCounters()
    {
        var viewers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => RawFrameClient.ConnectAsync(_server.Ws("ws/test/raw"))));
        try
        {
            await Task.WhenAll(viewers.Select(v => v.ReceiveFramesAsync(30, TimeSpan.FromSeconds(30))));
            foreach (var viewer in viewers)
            {
                Assert.All(viewer.Sizes, size => Assert.Equal(FrameSize, size));
                Assert.Equal(30, viewer.Headers.Count);
                Assert.Equal(0, viewer.TornFrames);
                for (var i = 1; i < viewer.Headers.Count; i++)
                {
                    Assert.True(viewer.Headers[i].Counter > viewer.Headers[i - 1].Counter, "counters must increase");
                }

                Assert.All(viewer.Headers, h => Assert.Equal((640, 480, (uint)FrameSize), (h.Width, h.Height, h.PayloadSize)));
            }
        }
        finally
        {
            foreach (var viewer in viewers)
            {
                viewer.Dispose();
            }
        }
    }

    [Fact]
    public async Task StalledViewer_DoesNotSlowTheOthers()
    {
        // A client that completes the handshake and then never reads: the kernel buffers fill and sends to it block.
        using var stalled = await RawSocketViewer.ConnectAsync(_server.BaseUri, "/ws/test/raw", receiveBuffer: 4096);
        var viewers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RawFrameClient.ConnectAsync(_server.Ws("ws/test/raw"))));
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1)); // long enough for the stalled socket to be full
            var started = DateTime.UtcNow;
            await Task.WhenAll(viewers.Select(v => v.ReceiveFramesAsync(60, TimeSpan.FromSeconds(10))));
            var elapsed = DateTime.UtcNow - started;
            Assert.True(elapsed < TimeSpan.FromSeconds(4), $"60 frames at 30 fps took {elapsed.TotalSeconds:0.0} s beside a stalled viewer");
            Assert.All(viewers, v => Assert.Equal(0, v.TornFrames));

            using var http = new HttpClient();
            using var feed = JsonDocument.Parse(await http.GetStringAsync(_server.Http("api/feeds/test")));
            Assert.True(feed.RootElement.GetProperty("viewers").GetInt32() >= 4, "the stalled viewer is still connected");
            // The stalled viewer costs the one frame it holds: buffers out of the pool stay bounded
            // (latched + one per viewer at most), however long it stalls.
            Assert.InRange(feed.RootElement.GetProperty("framesHeld").GetInt64(), 1, 6);
        }
        finally
        {
            foreach (var viewer in viewers)
            {
                viewer.Dispose();
            }
        }
    }

    [Fact]
    public async Task UnknownFeed_GetsAClear404_ForWebSocketAndApi()
    {
        using var client = new ClientWebSocket();
        client.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => client.ConnectAsync(_server.Ws("ws/nope/raw"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, client.HttpStatusCode);

        using var http = new HttpClient();
        var response = await http.GetAsync(_server.Http("ws/nope/raw"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("No feed named 'nope'", body);
        Assert.DoesNotContain("'test'", body); // a 404 names no camera: the list is /api/feeds, behind read access
        Assert.DoesNotContain("Feeds:", body);

        var api = await http.GetAsync(_server.Http("api/feeds/nope"));
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.Contains("nope", await api.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PlainHttpRequestToAViewerEndpoint_Gets426WithAnExplanation()
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(_server.Http("ws/test/raw"));
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Contains("WebSocket", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task NullSubprotocol_OfOldJsmpegBuilds_IsEchoed()
    {
        using var viewer = await RawFrameClient.ConnectAsync(_server.Ws("ws/test/raw"), subProtocol: "null");
        Assert.Equal("null", viewer.Socket.SubProtocol);
        await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Eyetoy_ServesTheFirstFeedsRawFrames_AsTheArticlesPageExpects()
    {
        using var viewer = await RawFrameClient.ConnectAsync(_server.Ws("eyetoy"));
        await viewer.ReceiveFramesAsync(3, TimeSpan.FromSeconds(10));
        Assert.All(viewer.Sizes, size => Assert.Equal(FrameSize, size));
    }

    [Fact]
    public async Task The101Response_AlwaysArrivesBeforeTheFirstFrame()
    {
        // Frames go straight to the socket after the upgrade; they must never overtake the 101 in Kestrel's pipe.
        for (var i = 0; i < 40; i++)
        {
            using var viewer = await RawSocketViewer.ConnectAsync(_server.BaseUri, "/ws/test/raw");
            var first = await viewer.ReadFrameHeaderAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(0x82, first.FirstByte);
            Assert.Equal(FrameSize, first.PayloadLength);
        }
    }

    [Fact]
    public async Task ClientPing_IsAnsweredWithAPong_BetweenFrames()
    {
        using var viewer = await RawSocketViewer.ConnectAsync(_server.BaseUri, "/ws/test/raw");
        await viewer.SendMaskedAsync(0x9, "are you there"u8.ToArray());
        for (var i = 0; i < 20; i++)
        {
            var frame = await viewer.ReadFrameHeaderAsync(TimeSpan.FromSeconds(10));
            var payload = await viewer.ReadPayloadAsync(frame.PayloadLength, keep: frame.FirstByte != 0x82);
            if (frame.FirstByte == 0x8A)
            {
                Assert.Equal("are you there", Encoding.ASCII.GetString(payload));
                return;
            }
        }

        Assert.Fail("no pong within 20 frames");
    }

    [Fact]
    public async Task ClientClose_IsEchoed_AndTheViewerIsRemoved()
    {
        using var viewer = await RawFrameClient.ConnectAsync(_server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(2, TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await viewer.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
        Assert.Equal(WebSocketState.Closed, viewer.Socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, viewer.Socket.CloseStatus);
    }

    [Fact]
    public async Task FeedApi_ReportsFormatSizeFpsViewersAndCounters()
    {
        using var viewer = await RawFrameClient.ConnectAsync(_server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(5, TimeSpan.FromSeconds(10));
        using var http = new HttpClient();
        using var feeds = JsonDocument.Parse(await http.GetStringAsync(_server.Http("api/feeds")));
        var feed = feeds.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "test");
        Assert.Equal("yuyv", feed.GetProperty("format").GetString());
        Assert.Equal("flag", feed.GetProperty("origin").GetString()); // a --source, not the config file or a publisher
        Assert.Equal(640, feed.GetProperty("width").GetInt32());
        Assert.Equal(480, feed.GetProperty("height").GetInt32());
        Assert.Equal(30, feed.GetProperty("fps").GetDouble());
        Assert.InRange(feed.GetProperty("measuredFps").GetDouble(), 25, 35);
        Assert.True(feed.GetProperty("viewers").GetInt32() >= 1);
        Assert.True(feed.GetProperty("frames").GetInt64() >= 5);
        Assert.Equal(feed.GetProperty("frames").GetInt64() * FrameSize, feed.GetProperty("bytes").GetInt64());
        Assert.Equal("running", feed.GetProperty("state").GetString());
        Assert.Equal("/ws/test/raw", feed.GetProperty("endpoints").GetProperty("raw").GetString());

        using var health = JsonDocument.Parse(await http.GetStringAsync(_server.Http("healthz")));
        Assert.Equal("ok", health.RootElement.GetProperty("status").GetString());
    }
}
