using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

[CollectionDefinition("chromium")]
public sealed class ChromiumCollection : ICollectionFixture<Browser>, ICollectionFixture<DefaultServerFixture>;

[Collection("chromium")]
public sealed class ChromiumPageTests(Browser browser, DefaultServerFixture fixture) : IAsyncLifetime
{
    private readonly OspreyProcess _server = fixture.Server;
    private readonly List<IPage> _pages = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>
    /// Closes the test's pages: an open MJPEG or WebSocket view holds one of the browser's six connections
    /// per host, and later tests would wait for them.
    /// </summary>
    public async Task DisposeAsync()
    {
        foreach (var page in _pages)
        {
            await page.CloseAsync();
        }
    }

    [Theory]
    [InlineData("2d")]
    [InlineData("webgl")]
    public async Task RawView_PlaysTheTestFeed_WithTheStaticBarsInTheirBt601Colours(string renderer)
    {
        var page = await OpenAsync($"?view=test:raw&renderer={renderer}");
        await page.WaitForFunctionAsync("() => window.osprey?.players?.test?.frames > 5", null, new() { Timeout = 20_000 });
        Assert.Equal(renderer, await page.EvaluateAsync<string>("() => window.osprey.players.test.renderer"));

        var pixels = await ReadCanvasAsync(page, "#canvas-test", StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} ({renderer})");
        }

        // The top of the picture moves: a row read a few frames apart differs (the bars scroll 4 px a frame).
        var moving = Enumerable.Range(0, 80).Select(i => (i * 8, 100)).ToArray();
        var before = await ReadCanvasAsync(page, "#canvas-test", moving);
        var counter = await page.EvaluateAsync<int>("() => window.osprey.players.test.lastCounter");
        await page.WaitForFunctionAsync($"() => window.osprey.players.test.lastCounter > {counter + 3}", null, new() { Timeout = 10_000 });
        var after = await ReadCanvasAsync(page, "#canvas-test", moving);
        Assert.NotEqual(before.SelectMany(p => p), after.SelectMany(p => p));

        var latency = await page.EvaluateAsync<double>("() => window.osprey.players.test.latencyMs");
        Assert.InRange(latency, -50, 2000);
    }

    [Fact]
    public async Task Page_ByDefault_PlaysTheTestFeedOverWebRtc_WithNoWebSocket()
    {
        var (page, sockets) = await OpenWatchingSocketsAsync(_server, "");
        await page.WaitForFunctionAsync("() => window.osprey?.players?.test?.frames > 10", null, new() { Timeout = 30_000 });

        Assert.Equal("webrtc", await page.EvaluateAsync<string>("() => window.osprey.players.test.view"));
        Assert.Equal("webrtc", await page.Locator("#player-test video").GetAttributeAsync("data-view"));
        Assert.Equal("webrtc", await page.Locator("#view-test").InputValueAsync());
        var pixels = await ReadCanvasAsync(page, "#video-test", StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} (default view)", tolerance: 24);
        }

        // Media over UDP: the page opened no WebSocket (the 600 kB raw frames never went to the tab).
        Assert.Empty(SocketPaths(sockets));

        // Switching to JPEG ends the WebRTC session on the server (the view DELETEs it).
        await page.EvaluateAsync("() => window.osprey.setView('test', 'jpeg')");
        await page.WaitForFunctionAsync("() => window.osprey.players.test.view === 'jpeg' && window.osprey.players.test.frames > 3", null, new() { Timeout = 20_000 });
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await http.GetStringAsync(_server.Http("/api/feeds/test"))).Contains("\"sessionsNow\":0", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the WebRTC session outlived its view");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Page_PlaysOnlyTheChosenFeed_AndListsTheOthersWithAPlayButton()
    {
        await using var server = await OspreyProcess.StartAsync(
            "--source", "a=testpattern:?width=320&height=240&fps=15", "--source", "b=testpattern:?width=320&height=240&fps=15");

        // No choice: the first feed plays in its default view; the second is a card with a play button.
        var (page, sockets) = await OpenWatchingSocketsAsync(server, "");
        await page.WaitForFunctionAsync("() => window.osprey?.players?.a?.frames > 3", null, new() { Timeout = 20_000 });
        await page.WaitForTimeoutAsync(1000);
        Assert.Equal("webrtc", await page.EvaluateAsync<string>("() => window.osprey.players.a.view"));
        Assert.False(await page.EvaluateAsync<bool>("() => 'b' in window.osprey.players"));
        Assert.Equal(0, await page.Locator("#player-b canvas, #player-b img, #player-b video").CountAsync());
        Assert.Equal("play", await page.Locator("#play-b").InnerTextAsync());
        Assert.Contains("not playing", await page.Locator("#idle-b").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Empty(SocketPaths(sockets)); // WebRTC: media over UDP
        var pixels = await ReadCanvasAsync(page, "#video-a", StaticBarCentres(320, 240));
        AssertColour(pixels[1], TestPatternGenerator.BarsRgb.Slice(3, 3).ToArray(), "yellow bar of a", tolerance: 24);

        // Play on the card: b plays too (a, which the user did not stop, goes on), and the URL says so.
        await page.ClickAsync("#play-b");
        await page.WaitForFunctionAsync("() => window.osprey.players.b?.frames > 3", null, new() { Timeout = 20_000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.osprey.players.a.frames > 0 && window.osprey.players.a.connected"));
        Assert.Contains("view=a:webrtc,b:webrtc", page.Url, StringComparison.Ordinal);
        pixels = await ReadCanvasAsync(page, "#video-b", StaticBarCentres(320, 240));
        AssertColour(pixels[1], TestPatternGenerator.BarsRgb.Slice(3, 3).ToArray(), "yellow bar of b", tolerance: 24);

        // ?view=b:mjpeg names b alone: a is only listed, and nothing connects to it.
        var (chosen, chosenSockets) = await OpenWatchingSocketsAsync(server, "?view=b:mjpeg");
        await chosen.WaitForFunctionAsync("() => document.querySelector('#img-b')?.naturalWidth > 0", null, new() { Timeout = 20_000 });
        await chosen.WaitForTimeoutAsync(1000);
        Assert.False(await chosen.EvaluateAsync<bool>("() => 'a' in window.osprey.players"));
        Assert.Equal("play", await chosen.Locator("#play-a").InnerTextAsync());
        Assert.Empty(SocketPaths(chosenSockets));
        pixels = await ReadCanvasAsync(chosen, "#img-b", StaticBarCentres(320, 240));
        AssertColour(pixels[1], TestPatternGenerator.BarsRgb.Slice(3, 3).ToArray(), "yellow bar of b (mjpeg)");
    }

    [Fact]
    public async Task AViewTheFeedDoesNotOffer_IsExplainedOnThePage_AndNothingElsePlays()
    {
        var (page, sockets) = await OpenWatchingSocketsAsync(_server, "?view=test:ts");
        var why = page.Locator("#why-test");
        await why.WaitForAsync(new() { Timeout = 20_000 });
        var text = await why.InnerTextAsync();
        Assert.Contains("MPEG-TS", text, StringComparison.Ordinal);
        Assert.Contains("carries yuyv", text, StringComparison.Ordinal);
        Assert.Equal("not offered", await page.Locator("#player-test .badge").InnerTextAsync());

        // Given a few polls of /api/feeds, still no picture and no socket: the raw view is not played instead.
        await page.WaitForTimeoutAsync(2500);
        Assert.Equal(0, await page.Locator("#player-test canvas, #player-test img, #player-test video").CountAsync());
        Assert.Empty(SocketPaths(sockets));
        Assert.False(await page.EvaluateAsync<bool>("() => window.osprey.players.test.offered"));
        Assert.Equal("ts", await page.EvaluateAsync<string>("() => window.osprey.players.test.view"));

        // The selector still offers what the feed has; picking JPEG plays it.
        Assert.True(await page.EvaluateAsync<bool>("() => window.osprey.setView('test', 'jpeg')"));
        await page.WaitForFunctionAsync("() => window.osprey.players.test.view === 'jpeg' && window.osprey.players.test.frames > 3", null, new() { Timeout = 20_000 });
        Assert.Equal(0, await page.Locator("#why-test").CountAsync());
    }

    [Fact]
    public async Task Mp4OnAJpegFeed_PlaysThroughTheDecoderAndEncoder_AndAViewItTrulyLacksIsStillExplained()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", "cam=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=10");
        var page = await OpenAsync("?view=cam:mp4", server);
        await page.WaitForFunctionAsync("() => { const v = document.querySelector('#video-cam'); return v && v.currentTime > 1 && v.videoWidth === 320; }", null, new() { Timeout = 40_000 });
        Assert.Equal(0, await page.Locator("#why-cam").CountAsync());
        var pixels = await ReadCanvasAsync(page, "#video-cam", [.. Enumerable.Range(0, 7).Select(bar => ((int)((bar + 0.5) * 320 / 7), 60))]);
        for (var bar = 0; bar < 7; bar++)
        {
            AssertColour(pixels[bar], SmpteBars.BarsRgb[bar], $"bar {bar} (mp4 of a JPEG feed)", tolerance: 28);
        }

        // MPEG-TS is not made from a JPEG feed: that is explained, and nothing plays in its place.
        var (other, sockets) = await OpenWatchingSocketsAsync(server, "?view=cam:ts");
        var why = other.Locator("#why-cam");
        await why.WaitForAsync(new() { Timeout = 20_000 });
        var text = await why.InnerTextAsync();
        Assert.Contains("MPEG-TS", text, StringComparison.Ordinal);
        Assert.Contains("carries jpeg", text, StringComparison.Ordinal);
        await other.WaitForTimeoutAsync(1000);
        Assert.Equal(0, await other.Locator("#player-cam video, #player-cam canvas").CountAsync());
        Assert.Empty(SocketPaths(sockets));
    }

    [Theory]
    [InlineData("jpeg", "#canvas-test", "() => window.osprey?.players?.test?.view === 'jpeg' && window.osprey.players.test.frames > 5")]
    [InlineData("mjpeg", "#img-test", "() => document.querySelector('#img-test')?.naturalWidth > 0")]
    public async Task JpegViews_ShowTheStaticBarsInTheirColours(string view, string element, string ready)
    {
        var page = await OpenAsync($"?view=test:{view}");
        await page.WaitForFunctionAsync(ready, null, new() { Timeout = 20_000 });
        // Let a few more frames arrive so that the picture is a whole, current one.
        await page.WaitForTimeoutAsync(500);
        var pixels = await ReadCanvasAsync(page, element, StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} ({view})");
        }

        if (view == "jpeg")
        {
            var latency = await page.EvaluateAsync<double>("() => window.osprey.players.test.latencyMs");
            Assert.InRange(latency, -50, 2000);
        }
    }

    [Fact]
    public async Task Mp4Player_PlaysTheTestFeedThroughMse_WithTheStaticBarsInTheirColours()
    {
        var page = await OpenAsync("?view=test:mp4");
        await page.WaitForFunctionAsync("() => { const v = document.querySelector('#video-test'); return v && v.currentTime > 1.5 && v.videoWidth > 0; }", null, new() { Timeout = 30_000 });
        // Playing: over 3 s of wall time the video advances by most of that (a brief stall at the live edge is allowed).
        var before = await page.EvaluateAsync<double>("() => document.querySelector('#video-test').currentTime");
        await page.WaitForTimeoutAsync(3000);
        var after = await page.EvaluateAsync<double>("() => document.querySelector('#video-test').currentTime");
        Assert.True(after > before + 1.5, $"currentTime went from {before} to {after}");

        // H.264 at the default quality keeps flat bars close to their colours.
        var pixels = await ReadCanvasAsync(page, "#video-test", StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} (mp4)", tolerance: 20);
        }

        var behind = await page.EvaluateAsync<double>("() => window.osprey.players.test.behindLiveEdge ?? 0");
        Assert.InRange(behind, 0, 1.0);
    }

    [Fact]
    public async Task BerryMsePage_PlaysVideoWebsocket()
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        await page.GotoAsync(_server.Http("berrymse.html").ToString());
        await page.WaitForFunctionAsync("() => { const v = document.querySelector('video'); return v && v.currentTime > 1 && v.videoWidth > 0; }", null, new() { Timeout = 30_000 });
        var pixels = await ReadCanvasAsync(page, "video", StaticBarCentres(640, 480));
        AssertColour(pixels[1], TestPatternGenerator.BarsRgb.Slice(3, 3).ToArray(), "yellow bar (berrymse)", tolerance: 20);
    }

    [Fact]
    public async Task ArticlesEyetoyPage_ServedByOsprey_Draws()
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        await page.GotoAsync(_server.Http("eyetoy.html").ToString());
        // The article's page keeps its own maths (green added with the wrong sign): check against that formula.
        await page.WaitForFunctionAsync("() => document.getElementById('mystream').getContext('2d').getImageData(40, 470, 1, 1).data[0] > 0", null, new() { Timeout = 20_000 });
        var pixels = await ReadCanvasAsync(page, "#mystream", StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            var y = TestPatternGenerator.BarsYCbCr[bar * 3];
            var cb = TestPatternGenerator.BarsYCbCr[(bar * 3) + 1];
            var cr = TestPatternGenerator.BarsYCbCr[(bar * 3) + 2];
            var r = cr + ((cr * 103) >> 8) - 179;
            var g = ((cb * 88) >> 8) - 44 + ((cr * 183) >> 8) - 91;
            var b = cb + ((cb * 198) >> 8) - 227;
            byte[] expected = [Clamp(y + r), Clamp(y + g), Clamp(y + b)];
            AssertColour(pixels[bar], expected, $"eyetoy bar {bar}");
        }
    }

    [Fact]
    public async Task Page_ListsTheFeedsFromTheApi()
    {
        var page = await OpenAsync("");
        var row = page.Locator("#feeds tbody tr[data-feed='test']");
        await row.WaitForAsync(new() { Timeout = 10_000 });
        var text = await row.InnerTextAsync();
        Assert.Contains("yuyv", text);
        Assert.Contains("640", text);
    }

    private async Task<IPage> OpenAsync(string query, OspreyProcess? server = null)
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync((server ?? _server).Http("/feeds.html" + query).ToString());
        Assert.Empty(errors);
        return page;
    }

    /// <summary>Opens the page and records the WebSockets it opens (their paths), from before its first script runs.</summary>
    private async Task<(IPage Page, List<string> Sockets)> OpenWatchingSocketsAsync(OspreyProcess server, string query)
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        var sockets = new List<string>();
        page.WebSocket += (_, socket) =>
        {
            lock (sockets)
            {
                sockets.Add(new Uri(socket.Url).AbsolutePath);
            }
        };
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(server.Http("/feeds.html" + query).ToString());
        Assert.Empty(errors);
        return (page, sockets);
    }

    private static string[] SocketPaths(List<string> sockets)
    {
        lock (sockets)
        {
            return [.. sockets.Distinct()];
        }
    }

    private static (int X, int Y)[] StaticBarCentres(int width, int height) =>
        [.. Enumerable.Range(0, 8).Select(bar => ((bar * width / 8) + (width / 16), height - 10))];
}
