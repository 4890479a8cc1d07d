using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>
/// The page's MPEG-TS view and relay tables: jsmpeg, vendored at build time and served by Osprey, playing what
/// ffmpeg publishes to /ts/{feed}, and the streams and destinations of /api/relay.
/// </summary>
[Collection("chromium")]
public sealed class JsmpegPageTests(Browser browser, DefaultServerFixture fixture) : IAsyncLifetime
{
    /// <summary>
    /// ffmpeg's SMPTE bars (seven 75% bars, 46 px wide, over the top 160 rows) with a white 32x32 box moving 8 px a
    /// frame along rows 200-231.
    /// </summary>
    private const string BarsWithMovingBox =
        "smptebars=size=320x240:rate=25[bars];color=c=white:size=32x32:rate=25[box];[bars][box]overlay=x=mod(n*8\\,288):y=200[out0]";

    /// <summary>Y, Cb, Cr of the seven bars as smptebars draws them (BT.601, limited range).</summary>
    private static readonly int[][] s_barsYCbCr =
    [
        [180, 128, 128], [162, 44, 142], [131, 156, 44], [112, 72, 58], [84, 184, 198], [65, 100, 212], [35, 212, 114],
    ];

    /// <summary>The same at jsmpeg's README size: bars 91 px wide over the top 320 rows, the box on rows 400-431.</summary>
    private const string BarsWithMovingBox640 =
        "smptebars=size=640x480:rate=25[bars];color=c=white:size=32x32:rate=25[box];[bars][box]overlay=x=mod(n*8\\,608):y=400[out0]";

    private static readonly (int X, int Y)[] s_barCentres = [.. Enumerable.Range(0, 7).Select(bar => ((bar * 46) + 23, 80))];

    private readonly List<IPage> _pages = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Closes the test's pages, whose sockets hold the browser's connections per host.</summary>
    public async Task DisposeAsync()
    {
        foreach (var page in _pages)
        {
            await page.CloseAsync();
        }
    }

    [Fact]
    public async Task VendoredJsmpeg_IsServedWithItsLicence()
    {
        using var http = new HttpClient();

        using var script = await http.GetAsync(fixture.Server.Http("vendor/jsmpeg/jsmpeg.min.js"));
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var code = await script.Content.ReadAsStringAsync();
        // The parts the page plays MPEG-TS with: the player, the WebSocket source, the TS demuxer, MPEG-1 video
        // and MP2 audio decoders.
        foreach (var part in new[] { "JSMpeg.Player=", "JSMpeg.Source.WebSocket=", "JSMpeg.Demuxer.TS=", "JSMpeg.Decoder.MPEG1Video=", "JSMpeg.Decoder.MP2Audio=" })
        {
            Assert.Contains(part, code, StringComparison.Ordinal);
        }

        using var licence = await http.GetAsync(fixture.Server.Http("vendor/jsmpeg/LICENSE"));
        Assert.Equal(HttpStatusCode.OK, licence.StatusCode);
        Assert.Equal("text/plain", licence.Content.Headers.ContentType?.MediaType);
        var text = await licence.Content.ReadAsStringAsync();
        Assert.Contains("The MIT License", text, StringComparison.Ordinal);
        Assert.Contains("Dominic Szablewski", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("webgl")]
    [InlineData("2d")]
    public async Task TsFeedFromFfmpeg_PlaysInJsmpeg_WithTheBarsInTheirColoursAndTheBoxMoving(string renderer)
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        await using var ffmpeg = TsPublisher.Start(server.Http("ts/video0"), BarsWithMovingBox);
        var (page, errors) = await OpenAsync(server, $"?view=video0:ts&renderer={renderer}");
        await WaitForAsync(page, "() => window.osprey?.players?.video0?.frames > 10", server, ffmpeg);

        var state = await page.EvaluateAsync<JsonElement>(
            "() => { const s = window.osprey.players.video0; return { view: s.view, renderer: s.renderer, connected: s.connected, width: s.width, height: s.height, bytes: s.bytes }; }");
        Assert.Equal("ts", state.GetProperty("view").GetString());
        Assert.Equal(renderer, state.GetProperty("renderer").GetString());
        Assert.True(state.GetProperty("connected").GetBoolean());
        Assert.Equal((320, 240), (state.GetProperty("width").GetInt32(), state.GetProperty("height").GetInt32()));
        Assert.True(state.GetProperty("bytes").GetInt64() > 0);

        var pixels = await ReadCanvasAsync(page, "#canvas-video0", s_barCentres);
        for (var bar = 0; bar < 7; bar++)
        {
            AssertColour(pixels[bar], ExpectedRgb(s_barsYCbCr[bar], renderer), $"bar {bar} ({renderer})", tolerance: 10);
        }

        // The box moves 8 px a frame: the row it runs along differs a few frames apart.
        var boxRow = Enumerable.Range(0, 80).Select(i => (i * 4, 216)).ToArray();
        var before = await ReadCanvasAsync(page, "#canvas-video0", boxRow);
        var frames = await page.EvaluateAsync<int>("() => window.osprey.players.video0.frames");
        await WaitForAsync(page, $"() => window.osprey.players.video0.frames > {frames + 5}", server, ffmpeg);
        var after = await ReadCanvasAsync(page, "#canvas-video0", boxRow);
        Assert.NotEqual(before.SelectMany(p => p), after.SelectMany(p => p));

        Assert.Empty(errors);
    }

    [Fact]
    public async Task JsmpegsReadmeOrder_ViewStreamPageFirstThenFfmpeg_PlaysInChromiumWithTheVendoredJsmpeg()
    {
        // node websocket-relay.js supersecret 8081 8082  ->  osprey stream --port P --extra-port Q --ingest-secret supersecret
        var (streamPort, websocketPort) = (FreePort(), FreePort());
        await using var server = await OspreyProcess.StartAsync(
            "stream", "--port", streamPort.ToString(CultureInfo.InvariantCulture),
            "--extra-port", websocketPort.ToString(CultureInfo.InvariantCulture), "--ingest-secret", "supersecret");

        // view-stream.html as jsmpeg ships it (a canvas, jsmpeg.min.js beside it, a player on ws://host:8082/ with
        // no other option), here with Osprey's vendored jsmpeg. The only addition watches the renderer: each picture
        // is copied as it is drawn, because the player's WebGL canvas does not keep its buffer for a later read.
        // (A page fulfilled by a Playwright route could open no WebSocket at all here, hence a real document.)
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        // Osprey serves no view-stream.html: the page is written into a document of Osprey's origin, so that its
        // relative script path and document.location.hostname resolve as they would beside jsmpeg.min.js.
        await page.GotoAsync(server.Http("healthz").ToString());
        await page.SetContentAsync($$"""
                <!DOCTYPE html>
                <html>
                <head><title>JSMpeg Stream Client</title></head>
                <body>
                  <canvas id="video-canvas"></canvas>
                  <script type="text/javascript" src="vendor/jsmpeg/jsmpeg.min.js"></script>
                  <script type="text/javascript">
                    var canvas = document.getElementById('video-canvas');
                    var url = 'ws://' + document.location.hostname + ':{{websocketPort}}/';
                    var player = new JSMpeg.Player(url, {canvas: canvas});

                    window.drawn = 0;
                    var copy = document.createElement('canvas');
                    copy.id = 'copy';
                    document.body.append(copy);
                    var render = player.renderer.render.bind(player.renderer);
                    player.renderer.render = function () {
                      render.apply(null, arguments);
                      copy.width = canvas.width;
                      copy.height = canvas.height;
                      copy.getContext('2d').drawImage(canvas, 0, 0);
                      window.drawn++;
                    };
                    window.renderer = player.renderer instanceof JSMpeg.Renderer.WebGL ? 'webgl' : '2d';
                  </script>
                </body>
                </html>
                """);
        try
        {
            await page.WaitForFunctionAsync("() => player.source.socket && player.source.socket.readyState === WebSocket.OPEN", null, new() { Timeout = 20_000 });
        }
        catch (TimeoutException e)
        {
            var state = await page.EvaluateAsync<string>("() => typeof player === 'undefined' ? 'no player' : `readyState ${player.source.socket?.readyState} of ${player.source.url}`");
            throw new TimeoutException($"view-stream.html's socket did not open: {state}; errors: {string.Join("; ", errors)}\nosprey:\n{server.Output}", e);
        }
        await page.WaitForTimeoutAsync(1000);
        Assert.Equal(0, await page.EvaluateAsync<int>("() => window.drawn"));

        // Then ffmpeg, as jsmpeg's README runs it (MPEG-1 at 640x480, 1000k, no B-frames) to http://host:8081/supersecret.
        await using var ffmpeg = Ffmpeg.Start(
            "-re", "-f", "lavfi", "-i", BarsWithMovingBox640,
            "-f", "mpegts", "-codec:v", "mpeg1video", "-s", "640x480", "-b:v", "1000k", "-bf", "0", $"http://127.0.0.1:{streamPort}/supersecret");
        try
        {
            await page.WaitForFunctionAsync("() => window.drawn > 10 && canvas.width === 640", null, new() { Timeout = 30_000 });
        }
        catch (TimeoutException e)
        {
            var drawn = await page.EvaluateAsync<int>("() => window.drawn");
            throw new TimeoutException($"view-stream.html drew {drawn} pictures.\nffmpeg: {ffmpeg.Errors}\nosprey:\n{server.Output}", e);
        }

        var renderer = await page.EvaluateAsync<string>("() => window.renderer");
        var bars = Enumerable.Range(0, 7).Select(bar => ((bar * 91) + 45, 160)).ToArray();
        var pixels = await ReadCanvasAsync(page, "#copy", bars);
        for (var bar = 0; bar < 7; bar++)
        {
            AssertColour(pixels[bar], ExpectedRgb(s_barsYCbCr[bar], renderer), $"bar {bar} ({renderer})", tolerance: 12);
        }

        // Live, not one picture: the box moves along its row between two reads.
        var boxRow = Enumerable.Range(0, 80).Select(i => (i * 8, 416)).ToArray();
        var before = await ReadCanvasAsync(page, "#copy", boxRow);
        var frames = await page.EvaluateAsync<int>("() => window.drawn");
        await page.WaitForFunctionAsync($"() => window.drawn > {frames + 5}", null, new() { Timeout = 10_000 });
        var after = await ReadCanvasAsync(page, "#copy", boxRow);
        Assert.NotEqual(before.SelectMany(p => p), after.SelectMany(p => p));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Page_ListsTheRelaysStreamsAndDestinations_AndPlaysTheStream()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        await using var ffmpeg = TsPublisher.Start(server.Http("ts/video0"), BarsWithMovingBox);
        using var http = new HttpClient();
        (await http.PostAsync(server.Http("api/streams"), Json("""{"stream":"/stream/front/large","feeds":["video0"]}"""))).EnsureSuccessStatusCode();
        // A closed loopback port: the destination never connects, and the page shows whatever state that gives.
        (await http.PostAsync(server.Http("api/destinations"), Json("""{"stream":"stream/front/large","destination":"ws://127.0.0.1:9/in/video0","id":"0"}"""))).EnsureSuccessStatusCode();

        var (page, errors) = await OpenAsync(server, "?view=stream/front/large:ts");
        const string Player = "window.osprey?.players?.['stream/front/large']";
        await WaitForAsync(page, $"() => {Player}?.frames > 10", server, ffmpeg);
        Assert.Equal("ts", await page.EvaluateAsync<string>($"() => {Player}.view"));
        // Only what the URL names plays: the feed video0 is listed, with a play button.
        Assert.False(await page.EvaluateAsync<bool>("() => 'video0' in window.osprey.players"));
        Assert.Equal("play", await page.Locator("[id='play-video0']").InnerTextAsync());
        var renderer = await page.EvaluateAsync<string>($"() => {Player}.renderer");
        var pixels = await ReadCanvasAsync(page, "canvas[data-feed='stream/front/large']", s_barCentres);
        AssertColour(pixels[1], ExpectedRgb(s_barsYCbCr[1], renderer), $"yellow bar of the stream ({renderer})", tolerance: 10);

        var streamRow = await page.Locator("#streams tbody tr[data-stream='stream/front/large']").InnerTextAsync();
        Assert.Contains("video0", streamRow, StringComparison.Ordinal);

        // The destination's row shows what the page last read from /api/relay, which is what was posted.
        var shown = await page.EvaluateAsync<JsonElement>(
            """
            () => ({
              cells: [...document.querySelectorAll("#destinations tbody tr[data-destination='0'] td")].map(td => td.textContent),
              data: window.osprey.relay.destinations.find(d => d.id === '0'),
            })
            """);
        var cells = shown.GetProperty("cells").EnumerateArray().Select(c => c.GetString()).ToArray();
        var data = shown.GetProperty("data");
        Assert.Equal(new string?[] { "0", "stream/front/large", "ws://127.0.0.1:9/in/video0" }, cells[..3]);
        Assert.Equal("ws://127.0.0.1:9/in/video0", data.GetProperty("destination").GetString());
        Assert.Contains(data.GetProperty("state").GetString(), new[] { "connecting", "connected", "reconnecting", "stopped" });
        Assert.Equal(data.GetProperty("state").GetString(), cells[3]);
        Assert.Equal(data.GetProperty("messagesSent").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), cells[5]);
        Assert.Equal(data.GetProperty("drops").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), cells[6]);
        Assert.Equal(data.GetProperty("reconnects").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), cells[7]);
        Assert.Equal(data.GetProperty("lastError").GetString() ?? "–", cells[8]);

        // Live: the stream's byte count on the page grows as the relay is polled.
        const string Bytes = "Number.parseInt(document.querySelector(\"#streams tbody tr[data-stream='stream/front/large'] td:nth-child(4)\").title)";
        var bytes = await page.EvaluateAsync<long>($"() => {Bytes}");
        await WaitForAsync(page, $"() => {Bytes} > {bytes}", server, ffmpeg, timeoutMs: 10_000);

        Assert.Empty(errors);
    }

    [Fact]
    public async Task Page_WithoutARelayApi_HidesTheRelaySection_AndPlaysTheFeeds()
    {
        var (page, errors) = await OpenAsync(fixture.Server, "", relay: route => route.FulfillAsync(new() { Status = 404, ContentType = "text/plain", Body = "Not found" }));
        await page.WaitForFunctionAsync("() => window.osprey?.players?.test?.frames > 5", null, new() { Timeout = 20_000 });
        await page.WaitForFunctionAsync("() => document.getElementById('relay').dataset.state === 'absent'", null, new() { Timeout = 20_000 });
        Assert.True(await page.Locator("#relay").IsHiddenAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.osprey.relay === null"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Page_WithAnEmptyRelay_SaysThereAreNoStreamsOrDestinations()
    {
        var (page, errors) = await OpenAsync(fixture.Server, "", relay: route => route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = """{"streams":[],"destinations":[]}""" }));
        await page.WaitForFunctionAsync("() => document.getElementById('relay').dataset.state === 'ok'", null, new() { Timeout = 20_000 });
        Assert.True(await page.Locator("#no-streams").IsVisibleAsync());
        Assert.True(await page.Locator("#no-destinations").IsVisibleAsync());
        Assert.True(await page.Locator("#streams").IsHiddenAsync());
        Assert.True(await page.Locator("#destinations").IsHiddenAsync());
        Assert.Empty(errors);
    }

    /// <summary>
    /// A bar's colour as jsmpeg draws it: WebGL converts BT.601 limited range properly; the Canvas2D renderer
    /// uses integer full-range maths on the limited-range values (so black is 16 and 75% white is 180).
    /// </summary>
    private static byte[] ExpectedRgb(int[] ycbcr, string renderer)
    {
        var (y, cb, cr) = (ycbcr[0], ycbcr[1], ycbcr[2]);
        if (renderer == "2d")
        {
            return [Clamp(y + cr + ((cr * 103) >> 8) - 179), Clamp(y - (((cb * 88) >> 8) - 44 + ((cr * 183) >> 8) - 91)), Clamp(y + cb + ((cb * 198) >> 8) - 227)];
        }

        var luma = 1.164383 * (y - 16);
        return
        [
            Clamp((int)Math.Round(luma + (1.596027 * (cr - 128)))),
            Clamp((int)Math.Round(luma - (0.391762 * (cb - 128)) - (0.812968 * (cr - 128)))),
            Clamp((int)Math.Round(luma + (2.017232 * (cb - 128)))),
        ];
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<(IPage Page, List<string> Errors)> OpenAsync(OspreyProcess server, string query, Func<IRoute, Task>? relay = null)
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        if (relay is not null)
        {
            await page.RouteAsync("**/api/relay", relay);
        }

        await page.GotoAsync(server.Http("/feeds.html" + query).ToString());
        return (page, errors);
    }

    /// <summary>Waits for a condition in the page; on timeout says what the server and ffmpeg printed.</summary>
    private static async Task WaitForAsync(IPage page, string condition, OspreyProcess server, TsPublisher ffmpeg, int timeoutMs = 30_000)
    {
        try
        {
            await page.WaitForFunctionAsync(condition, null, new() { Timeout = timeoutMs });
        }
        catch (TimeoutException e)
        {
            var players = await page.EvaluateAsync<string>(
                "() => JSON.stringify(window.osprey?.players, (k, v) => v instanceof Element ? undefined : v)");
            throw new TimeoutException($"{condition} not true within {timeoutMs} ms.\nplayers: {players}\nffmpeg: {ffmpeg.Errors}\nosprey:\n{server.Output}", e);
        }
    }
}
