using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>HLS and LL-HLS from the real server: raw HTTP against RFC 8216bis's rules, and hls.js in Chromium.</summary>
[Collection("chromium")]
public sealed partial class HlsTests(Browser browser, DefaultServerFixture fixture) : IAsyncLifetime
{
    private readonly List<IPage> _pages = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var page in _pages)
        {
            await page.CloseAsync();
        }
    }

    [GeneratedRegex("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"(\\d+)\\.(\\d+)\\.m4s\"")]
    private static partial Regex PreloadHint();

    [GeneratedRegex("#EXT-X-MAP:URI=\"(init-[0-9-]+\\.mp4)\"")]
    private static partial Regex Map();

    [Fact]
    public async Task LowLatencyHls_BlocksReloadsAndHintedParts_AnswersCacheablyAndByteIdentically_And400sOutsideTheWindow()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };

        using var multivariant = await http.GetAsync(server.Http("hls/cam/index.m3u8"));
        Assert.Equal(HttpStatusCode.OK, multivariant.StatusCode);
        Assert.Equal("application/vnd.apple.mpegurl", multivariant.Content.Headers.ContentType?.MediaType);
        var variants = await multivariant.Content.ReadAsStringAsync();
        Assert.Matches("#EXT-X-STREAM-INF:BANDWIDTH=\\d+,CODECS=\"avc1\\.[0-9a-f]{6}\",RESOLUTION=320x240", variants);
        Assert.EndsWith("\nmedia.m3u8\n", variants, StringComparison.Ordinal);

        using var first = await http.GetAsync(server.Http("hls/cam/media.m3u8"));
        Assert.Equal("public, max-age=1", first.Headers.CacheControl?.ToString());
        var playlist = await first.Content.ReadAsStringAsync();
        Assert.Contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", playlist, StringComparison.Ordinal);
        Assert.Contains("#EXT-X-PART-INF:PART-TARGET=0.220", playlist, StringComparison.Ordinal);
        Assert.Contains("#EXT-X-PROGRAM-DATE-TIME:", playlist, StringComparison.Ordinal);
        var hint = PreloadHint().Match(playlist);
        Assert.True(hint.Success, playlist);
        var (msn, part) = (long.Parse(hint.Groups[1].Value), int.Parse(hint.Groups[2].Value));

        // The hinted part blocks until complete; so does a playlist that waits for it, and it then lists it.
        var clock = Stopwatch.StartNew();
        using var hinted = await http.GetAsync(server.Http($"hls/cam/{msn}.{part}.m4s"));
        Assert.Equal(HttpStatusCode.OK, hinted.StatusCode);
        Assert.Equal("video/mp4", hinted.Content.Headers.ContentType?.MediaType);
        Assert.Equal("public, max-age=31536000, immutable", hinted.Headers.CacheControl?.ToString());
        var partBytes = await hinted.Content.ReadAsByteArrayAsync();
        Assert.Equal("moof"u8.ToArray(), partBytes[4..8]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"the hinted part took {clock.Elapsed}");

        var blockingUrl = server.Http($"hls/cam/media.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        using var blocking = await http.GetAsync(blockingUrl);
        Assert.Equal(HttpStatusCode.OK, blocking.StatusCode);
        Assert.Equal("public, max-age=1", blocking.Headers.CacheControl?.ToString());
        var blockingBytes = await blocking.Content.ReadAsByteArrayAsync();
        Assert.Contains($"URI=\"{msn}.{part}.m4s\"", Encoding.UTF8.GetString(blockingBytes), StringComparison.Ordinal);

        // The same URL later: the same bytes, though the stream moved on.
        await Task.Delay(700);
        Assert.Equal(blockingBytes, await http.GetByteArrayAsync(blockingUrl));
        Assert.NotEqual(blockingBytes, await http.GetByteArrayAsync(server.Http("hls/cam/media.m3u8")));

        // Delta update, out of the window, malformed.
        var delta = await http.GetStringAsync(server.Http($"hls/cam/media.m3u8?_HLS_msn={msn}&_HLS_part={part}&_HLS_skip=YES"));
        Assert.Contains($"URI=\"{msn}.{part}.m4s\"", delta, StringComparison.Ordinal);
        using var old = await http.GetAsync(server.Http("hls/cam/media.m3u8?_HLS_msn=5"));
        Assert.Equal(HttpStatusCode.BadRequest, old.StatusCode);
        using var ahead = await http.GetAsync(server.Http($"hls/cam/media.m3u8?_HLS_msn={msn + 10}"));
        Assert.Equal(HttpStatusCode.BadRequest, ahead.StatusCode);
        using var partOnly = await http.GetAsync(server.Http("hls/cam/media.m3u8?_HLS_part=1"));
        Assert.Equal(HttpStatusCode.BadRequest, partOnly.StatusCode);
        using var missing = await http.GetAsync(server.Http($"hls/cam/{msn}.{part + 40}.m4s"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // The init segment and a whole segment (its parts, concatenated), both immutable.
        var map = Map().Match(playlist);
        Assert.True(map.Success, playlist);
        using var init = await http.GetAsync(server.Http($"hls/cam/{map.Groups[1].Value}"));
        Assert.Equal("public, max-age=31536000, immutable", init.Headers.CacheControl?.ToString());
        Assert.Equal("ftyp"u8.ToArray(), (await init.Content.ReadAsByteArrayAsync())[4..8]);
        var plain = await http.GetStringAsync(server.Http("hls/cam/plain.m3u8"));
        Assert.DoesNotContain("#EXT-X-PART", plain, StringComparison.Ordinal);
        var segmentName = plain.Split('\n').Last(l => l.EndsWith(".m4s", StringComparison.Ordinal));
        using var segment = await http.GetAsync(server.Http($"hls/cam/{segmentName}"));
        Assert.Equal(HttpStatusCode.OK, segment.StatusCode);
        Assert.Equal("moof"u8.ToArray(), (await segment.Content.ReadAsByteArrayAsync())[4..8]);

        // Counted once per request kind; the stream was made once for all of them.
        var api = await http.GetStringAsync(server.Http("api/hls"));
        Assert.Contains("\"feed\":\"cam\"", api, StringComparison.Ordinal);
        Assert.Contains("\"multivariantRequests\":1,", api, StringComparison.Ordinal);
        Assert.Contains("\"badFragments\":0,", api, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hls")]
    [InlineData("hlsplain")]
    public async Task HlsJs_PlaysTheTestFeed_WithTheStaticBarsInTheirColours_CloseBehindLive(string view)
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(fixture.Server.Http($"/?view=test:{view}").ToString());
        await page.WaitForFunctionAsync("() => { const v = document.querySelector('#video-test'); return v && v.currentTime > 1 && v.videoWidth > 0; }", null, new() { Timeout = 40_000 });
        Assert.Empty(errors);
        var player = await page.EvaluateAsync<string>("() => window.osprey.players.test.player");
        Assert.Equal("hls.js", player);

        var before = await page.EvaluateAsync<double>("() => document.querySelector('#video-test').currentTime");
        await page.WaitForTimeoutAsync(4000);
        var after = await page.EvaluateAsync<double>("() => document.querySelector('#video-test').currentTime");
        Assert.True(after > before + 2.5, $"currentTime went from {before} to {after}");

        var pixels = await ReadCanvasAsync(page, "#video-test", [.. Enumerable.Range(0, 8).Select(bar => ((bar * 640 / 8) + (640 / 16), 480 - 10))]);
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} ({view})", tolerance: 20);
        }

        // Behind live: hls.js's latency (from the playlist's live edge), sampled for two seconds; its least, so a
        // stall of the loaded test machine at one sample does not decide.
        var samples = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            samples.Add(await page.EvaluateAsync<double>("() => window.osprey.players.test.behindLiveEdge ?? 99"));
            await page.WaitForTimeoutAsync(250);
        }

        var capture = await page.EvaluateAsync<double>("() => window.osprey.players.test.behindCapture ?? 99");
        var limit = view == "hls" ? 1.5 : 8.0; // plain HLS plays whole segments: some three target durations behind
        Assert.True(samples.Min() < limit, $"{view}: behind the live edge by {string.Join(", ", samples.Select(s => s.ToString("0.00")))} s; behind capture {capture:0.00} s");
    }
}
