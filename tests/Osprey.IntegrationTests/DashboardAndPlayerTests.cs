using System.Net.Http.Json;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>
/// The dashboard at <c>/</c>, the player page at <c>/watch/{feed}</c> and the <c>&lt;osprey-player&gt;</c> element, in
/// Chromium against the real server: pixels of the test pattern through each protocol the player falls back to.
/// </summary>
[Collection("chromium")]
public sealed class DashboardAndPlayerTests(Browser browser, DefaultServerFixture fixture) : IAsyncLifetime
{
    private const string Player = "document.querySelector('osprey-player')";
    private const string PlayerMedia = "document.querySelector('osprey-player').media";
    // The test switch that blocks WebRTC, the player's first choice, so that the tests of the other protocols reach them.
    private const string NoWebRtc = "Object.defineProperty(window, 'RTCPeerConnection', { value: undefined });";
    private readonly OspreyProcess _server = fixture.Server;
    private readonly List<IBrowserContext> _contexts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var context in _contexts)
        {
            await context.CloseAsync();
        }
    }

    [Fact]
    public async Task Player_InChromium_PicksWebRtc_AndShowsTheBars()
    {
        var page = await OpenAsync(_server, "watch/test");
        await WaitLiveAsync(page, "webrtc");
        await page.WaitForFunctionAsync($"() => {PlayerMedia}.currentTime > 1 && {PlayerMedia}.videoWidth > 0", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "webrtc", tolerance: 24);
        Assert.Equal("webrtc", await page.Locator("osprey-player").GetAttributeAsync("data-protocol"));
        Assert.Equal("webrtc", (await page.EvaluateAsync<string[]>($"() => {Player}.stats.candidates"))[0]);
    }

    [Fact]
    public async Task Player_WithWebRtcBlocked_FallsBackToMse_AndSaysSo()
    {
        var page = await OpenAsync(_server, "watch/test", NoWebRtc);
        await WaitLiveAsync(page, "mse");
        await page.WaitForFunctionAsync($"() => {PlayerMedia}.currentTime > 1 && {PlayerMedia}.videoWidth > 0", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "mse", tolerance: 20);
        Assert.Contains("mse", await page.Locator("#protocol").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal("mse", await page.Locator("osprey-player").GetAttributeAsync("data-protocol"));

        // Near the live edge: the player speeds up past 0.5 s behind and jumps to the edge past 3 s, so the
        // playhead is never further behind than that once it has settled.
        await page.WaitForTimeoutAsync(2000);
        var delay = await page.EvaluateAsync<double>($"() => {Player}.stats.delayMs ?? 0");
        Assert.InRange(delay, 0, 3000);
    }

    [Fact]
    public async Task Player_WithoutMse_FallsBackToWebCodecs_AndShowsTheBars()
    {
        var page = await OpenAsync(_server, "watch/test", NoWebRtc + "Object.defineProperty(window, 'MediaSource', { value: undefined }); Object.defineProperty(window, 'ManagedMediaSource', { value: undefined });");
        await WaitLiveAsync(page, "webcodecs");
        await page.WaitForFunctionAsync($"() => {Player}.stats.frames > 10", null, new() { Timeout = 20_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "webcodecs", tolerance: 20);
        Assert.DoesNotContain("mse", await page.EvaluateAsync<string[]>($"() => {Player}.stats.candidates"));
    }

    [Fact]
    public async Task Player_WhenMseFailsWhilePlaying_FallsBackToTheNextProtocol()
    {
        // MSE is there, but every SourceBuffer refuses: the player finds out by trying and goes on to WebCodecs.
        var page = await OpenAsync(_server, "watch/test", NoWebRtc + "MediaSource.prototype.addSourceBuffer = function () { throw new Error('blocked by the test'); };");
        await WaitLiveAsync(page, "webcodecs");
        Assert.Contains("blocked by the test", await page.EvaluateAsync<string>($"() => {Player}.stats.failures.mse"), StringComparison.Ordinal);
        Assert.Equal(["mse", "webcodecs"], await page.EvaluateAsync<string[]>($"() => {Player}.stats.tried"));
        await page.WaitForFunctionAsync($"() => {Player}.stats.frames > 10", null, new() { Timeout = 20_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "webcodecs after mse failed", tolerance: 20);
    }

    [Fact]
    public async Task Player_WithNeitherMseNorWebCodecs_PlaysJpeg_AndThenMjpegWhenJpegIsNotAllowed()
    {
        // No H.264 at all: neither MSE nor WebCodecs, nor the native HLS that Chromium now has.
        const string noH264 = NoWebRtc + "Object.defineProperty(window, 'MediaSource', { value: undefined }); Object.defineProperty(window, 'VideoDecoder', { value: undefined });"
            + "const canPlay = HTMLMediaElement.prototype.canPlayType; HTMLMediaElement.prototype.canPlayType = function (type) { return /mpegurl/i.test(type) ? '' : canPlay.call(this, type); };";
        var page = await OpenAsync(_server, "watch/test", noH264);
        await WaitLiveAsync(page, "jpeg");
        await page.WaitForFunctionAsync($"() => {Player}.stats.frames > 5", null, new() { Timeout = 20_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "jpeg");
        var delay = await page.EvaluateAsync<double>($"() => {Player}.stats.delayMs");
        Assert.InRange(delay, -50, 2000);

        // Only MJPEG allowed by the element's protocols attribute: an <img>.
        var mjpeg = await OpenAsync(_server, "watch/test", noH264);
        await mjpeg.EvaluateAsync($"() => {Player}.setAttribute('protocols', 'mjpeg')");
        await WaitLiveAsync(mjpeg, "mjpeg");
        await mjpeg.WaitForFunctionAsync($"() => {PlayerMedia}?.naturalWidth > 0", null, new() { Timeout = 20_000 });
        AssertBars(await ReadElementAsync(mjpeg, PlayerMedia, StaticBarCentres(640, 480)), "mjpeg");
    }

    [Fact]
    public async Task Player_ReconnectsAfterTheServerRestarts()
    {
        var first = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15");
        var port = first.BaseUri.Port;
        var page = await OpenAsync(first, "watch/cam", NoWebRtc);
        await WaitLiveAsync(page, "mse");
        await first.DisposeAsync();
        await page.WaitForFunctionAsync($"() => {Player}.stats.status !== 'live'", null, new() { Timeout = 20_000 });

        await using var second = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.WaitForFunctionAsync($"() => {Player}.stats.status === 'live' && {Player}.stats.reconnects >= 1", null, new() { Timeout = 40_000 });
        await page.WaitForFunctionAsync($"() => {PlayerMedia}?.currentTime > 1", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(320, 240)), "after the restart", tolerance: 24);
    }

    [Fact]
    public async Task Embed_OnAPageOfAnotherOrigin_Plays_WhenTheServerAllowsThatOrigin()
    {
        Uri? osprey = null;
        await using var site = new LoopbackHttpServer(
            (_, _) => (200, $"<!DOCTYPE html><title>another site</title><script src=\"{osprey}osprey-player.js\"></script><osprey-player src=\"cam\" style=\"width: 320px\"></osprey-player>"),
            "text/html; charset=utf-8");
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15", "--allow-origin", site.BaseUri.GetLeftPart(UriPartial.Authority));
        osprey = server.BaseUri;

        var context = await browser.Instance.NewContextAsync();
        _contexts.Add(context);
        await context.AddInitScriptAsync(NoWebRtc);
        var page = await context.NewPageAsync();
        await page.GotoAsync(site.BaseUri.ToString());
        await WaitLiveAsync(page, "mse");
        await page.WaitForFunctionAsync($"() => {PlayerMedia}.currentTime > 0.5", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(320, 240)), "embedded on another origin", tolerance: 24);
        // The feed's entry came through CORS: the player lists only what the server offers for the feed.
        using var http = new HttpClient();
        using var feed = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        var endpoints = feed.RootElement.GetProperty("endpoints").EnumerateObject().Select(e => e.Name).ToHashSet();
        var endpointOf = new Dictionary<string, string[]> { ["webrtc"] = ["whep", "webrtc"], ["mse"] = ["mp4"], ["webcodecs"] = ["h264"], ["hls"] = ["hls"], ["jpeg"] = ["jpeg"], ["mjpeg"] = ["mjpeg"] };
        var candidates = await page.EvaluateAsync<string[]>($"() => {Player}.stats.candidates");
        Assert.Contains("mse", candidates);
        Assert.All(candidates, c => Assert.True(endpointOf[c].Any(endpoints.Contains), $"{c} was tried, but the server lists {string.Join(", ", endpoints)}"));
    }

    [Fact]
    public async Task Dashboard_OnTheFirstRun_PlaysItsOneFeedLiveOverWebRtc_AndWithASecondFeedShowsOnlyThumbnails()
    {
        // The README's first run: no flags, one feed (the test pattern here, no camera).
        await using var server = await OspreyProcess.StartAsync();
        var page = await OpenAsync(server, "");
        await WaitLiveAsync(page, "webrtc");
        await page.WaitForFunctionAsync($"() => {PlayerMedia}.currentTime > 1 && {PlayerMedia}.videoWidth > 0", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(page, PlayerMedia, StaticBarCentres(640, 480)), "the dashboard's live player", tolerance: 24);
        Assert.Equal("test", await page.EvaluateAsync<string>("() => window.osprey.dashboard.featured"));
        Assert.Equal("live over webrtc", await page.Locator("#featured-protocol").InnerTextAsync());

        // A second feed: a grid of live players would cost every feed's stream, so only the thumbnails stay.
        using var http = new HttpClient();
        using var added = await http.PostAsync(server.Http("api/sources"), new StringContent("""{"name":"yard","uri":"testpattern:?width=160&height=120&fps=5"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Created, added.StatusCode);
        await page.WaitForFunctionAsync("() => window.osprey.dashboard.featured === null && document.querySelector('osprey-player') === null && document.querySelector('#featured').hidden", null, new() { Timeout = 10_000 });
        await page.Locator("#card-yard").WaitForAsync(new() { Timeout = 10_000 });
    }

    [Fact]
    public async Task Dashboard_ListsTheFeed_WithAThumbnailOfTheBarsThatChanges()
    {
        var page = await OpenAsync(_server, "");
        var card = page.Locator("#card-test");
        await card.WaitForAsync(new() { Timeout = 10_000 });
        await page.WaitForFunctionAsync("() => window.osprey.dashboard.thumbs.test >= 1", null, new() { Timeout = 20_000 });
        const string thumb = "document.querySelector('#card-test img')";
        AssertBars(await ReadElementAsync(page, thumb, StaticBarCentres(640, 480)), "thumbnail");

        // The top of the pattern scrolls: a later thumbnail differs there.
        var row = Enumerable.Range(0, 80).Select(i => (i * 8, 100)).ToArray();
        var before = await ReadElementAsync(page, thumb, row);
        var shown = await page.EvaluateAsync<int>("() => window.osprey.dashboard.thumbs.test");
        await page.WaitForFunctionAsync($"() => window.osprey.dashboard.thumbs.test >= {shown + 2}", null, new() { Timeout = 20_000 });
        var after = await ReadElementAsync(page, thumb, row);
        Assert.NotEqual(before.SelectMany(p => p), after.SelectMany(p => p));

        Assert.Equal("live", await card.Locator(".state").InnerTextAsync());
        Assert.Equal("/watch/test", await card.Locator("a.name").GetAttributeAsync("href"));
        // Every number says what it is on hover.
        foreach (var title in await card.Locator(".numbers > div").EvaluateAllAsync<string[]>("els => els.map(e => e.title)"))
        {
            Assert.True(title.Length > 20, $"a number's explanation is missing or short: '{title}'");
        }

        await page.WaitForFunctionAsync("() => document.querySelector('#card-test .chart canvas') !== null", null, new() { Timeout = 10_000 });
        var links = await page.Locator("footer a").EvaluateAllAsync<string[]>("els => els.map(e => e.getAttribute('href'))");
        Assert.Superset(new HashSet<string> { "/eyetoy.html", "/berrymse.html", "/feeds.html" }, links.ToHashSet());
    }

    [Fact]
    public async Task Dashboard_AddingASourceFromThePage_MakesItAppearAndPlay_AndRemovingItMakesItGo()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=320&height=240&fps=15");
        var page = await OpenAsync(server, "");
        await page.Locator("#card-test").WaitForAsync(new() { Timeout = 10_000 });
        await page.ClickAsync("#add-open");
        await page.FillAsync("#source-name", "added");
        await page.FillAsync("#source-uri", "testpattern:?width=320&height=240&fps=15");
        await page.ClickAsync("#source-save");
        var card = page.Locator("#card-added");
        await card.WaitForAsync(new() { Timeout = 10_000 });
        await page.WaitForFunctionAsync("() => window.osprey.dashboard.thumbs.added >= 1", null, new() { Timeout = 20_000 });
        AssertBars(await ReadElementAsync(page, "document.querySelector('#card-added img')", StaticBarCentres(320, 240)), "thumbnail of the added feed");

        // It plays on its own page.
        var watch = await OpenAsync(server, "watch/added", NoWebRtc);
        await WaitLiveAsync(watch, "mse");
        await watch.WaitForFunctionAsync($"() => {PlayerMedia}.currentTime > 0.5", null, new() { Timeout = 30_000 });
        AssertBars(await ReadElementAsync(watch, PlayerMedia, StaticBarCentres(320, 240)), "added feed playing", tolerance: 24);

        // Removing it from the page: gone from the dashboard and from the API.
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await card.Locator("button", new() { HasText = "remove" }).ClickAsync();
        await card.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = 10_000 });
        using var http = new HttpClient();
        var feeds = await http.GetFromJsonAsync<List<Dictionary<string, object>>>(server.Http("api/feeds"));
        Assert.DoesNotContain(feeds!, f => f["name"].ToString() == "added");
        Assert.Equal(1, await page.Locator(".feed-card").CountAsync());
    }

    [Fact]
    public async Task WatchPage_ListsEveryProtocolsLink_AndACopyableEmbedSnippet()
    {
        var page = await OpenAsync(_server, "watch/test");
        await page.Locator("#links li[data-kind='mp4']").WaitForAsync(new() { Timeout = 10_000 });
        var kinds = await page.Locator("#links li").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.kind)");
        Assert.Superset(new HashSet<string> { "mp4", "h264", "mjpeg", "jpeg", "snapshot", "raw", "feeds.html" }, kinds.ToHashSet());
        Assert.Equal(_server.Ws("ws/test/mp4").ToString(), await page.Locator("#links li[data-kind='mp4'] a").GetAttributeAsync("href"));
        Assert.Equal(_server.Http("mjpeg/test").ToString(), await page.Locator("#links li[data-kind='mjpeg'] a").GetAttributeAsync("href"));

        var snippet = await page.Locator("#snippet").InputValueAsync();
        Assert.Contains($"<script src=\"{_server.Http("osprey-player.js")}\"></script>", snippet, StringComparison.Ordinal);
        Assert.Contains("<osprey-player src=\"test\"", snippet, StringComparison.Ordinal);

        // Copy says what it did (copied, or how to copy where the clipboard is not allowed).
        await page.ClickAsync("#copy");
        await page.WaitForFunctionAsync("() => document.querySelector('#copied').innerText.length > 0", null, new() { Timeout = 5_000 });
    }

    [Theory]
    [InlineData("")]
    [InlineData("watch/test")]
    public async Task PhoneWidth_RendersWithoutHorizontalScroll(string path)
    {
        var page = await OpenAsync(_server, path, viewport: new ViewportSize { Width = 360, Height = 740 });
        await page.WaitForFunctionAsync("() => document.querySelector('.feed-card, osprey-player') !== null", null, new() { Timeout = 10_000 });
        await page.WaitForTimeoutAsync(2500); // thumbnails, charts and the player have drawn
        var (scroll, client) = (await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), await page.EvaluateAsync<int>("() => document.documentElement.clientWidth"));
        Assert.True(scroll <= client, $"{path}: the page is {scroll} px wide in a {client} px viewport");
        await page.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, $"phone-{(path.Length == 0 ? "dashboard" : "watch")}.png"), FullPage = true });
    }

    [Fact]
    public async Task Dashboard_WithAUserConfigured_AsksForALogin_AndListsTheFeedsAfterIt()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15", "--user", "alice:alice-pass:all");
        var page = await OpenAsync(server, "", NoWebRtc);
        var form = page.Locator("#login");
        await form.WaitForAsync(new() { Timeout = 10_000 });
        Assert.Equal(0, await page.Locator(".feed-card").CountAsync());

        await page.FillAsync("#login-user", "alice");
        await page.FillAsync("#login-password", "wrong");
        await page.ClickAsync("#login-submit");
        await page.WaitForFunctionAsync("() => document.querySelector('#login-error').textContent.length > 0", null, new() { Timeout = 10_000 });

        await page.FillAsync("#login-password", "alice-pass");
        await page.ClickAsync("#login-submit");
        await page.Locator("#card-cam").WaitForAsync(new() { Timeout = 10_000 });
        await form.WaitForAsync(new() { State = WaitForSelectorState.Hidden, Timeout = 5_000 });
        Assert.Contains("alice", await page.Locator("#who").InnerTextAsync(), StringComparison.Ordinal);
        await page.WaitForFunctionAsync("() => window.osprey.dashboard.thumbs.cam >= 1", null, new() { Timeout = 20_000 });

        // The session cookie lets the player page play too.
        var watch = await page.Context.NewPageAsync();
        await watch.GotoAsync(server.Http("watch/cam").ToString());
        await WaitLiveAsync(watch, "mse");
    }

    /// <summary>Opens a page in a context of its own (its own cookies, storage and viewport), with a script run before the page's.</summary>
    private async Task<IPage> OpenAsync(OspreyProcess server, string path, string? initScript = null, ViewportSize? viewport = null)
    {
        var context = await browser.Instance.NewContextAsync(new() { ViewportSize = viewport ?? new ViewportSize { Width = 1280, Height = 800 } });
        _contexts.Add(context);
        if (initScript is not null)
        {
            await context.AddInitScriptAsync(initScript);
        }

        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(server.Http("/" + path).ToString());
        Assert.Empty(errors);
        return page;
    }

    private static async Task WaitLiveAsync(IPage page, string protocol)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {Player}?.stats?.status === 'live' && {Player}.protocol === '{protocol}'", null, new() { Timeout = 30_000 });
        }
        catch (TimeoutException)
        {
            var stats = await page.EvaluateAsync<string>($"() => JSON.stringify({Player}?.stats)");
            Assert.Fail($"not live over {protocol}: {stats}");
        }
    }

    private static void AssertBars(byte[][] pixels, string what, int tolerance = DefaultTolerance)
    {
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} ({what})", tolerance);
        }
    }

    private static (int X, int Y)[] StaticBarCentres(int width, int height) =>
        [.. Enumerable.Range(0, 8).Select(bar => ((bar * width / 8) + (width / 16), height - 10))];
}
