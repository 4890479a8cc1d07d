using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>Debian's chromium plays feeds over WHEP with RTCPeerConnection, against the real server.</summary>
[Collection("chromium")]
public sealed class WebRtcChromiumTests(Browser browser) : IAsyncLifetime
{
    private readonly List<IPage> _pages = [];
    private OspreyProcess _server = null!;

    public async Task InitializeAsync() => _server = await OspreyProcess.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var page in _pages)
        {
            await page.CloseAsync();
        }

        await _server.DisposeAsync();
    }

    /// <summary>What a WHEP player does: a recvonly offer, POST, the answer, the video element.</summary>
    internal const string PlayScript =
        """
        async ([feed, rewrite]) => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          const video = document.createElement('video');
          video.id = 'whep';
          video.muted = true;
          video.autoplay = true;
          video.playsInline = true;
          document.body.appendChild(video);
          pc.ontrack = e => { if (e.track.kind === 'video') { video.srcObject = new MediaStream([e.track]); video.play().catch(() => {}); } };
          const offer = await pc.createOffer();
          await pc.setLocalDescription(offer);
          const started = performance.now();
          const response = await fetch(`/${feed}/whep`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer.sdp });
          const answer = await response.text();
          if (response.status !== 201) throw new Error(`WHEP answered ${response.status}: ${answer}`);
          window.whep = { pc, location: response.headers.get('Location'), started, firstFrameMs: null, answer };
          video.requestVideoFrameCallback(() => { window.whep.firstFrameMs = performance.now() - started; });
          let sdp = answer;
          if (rewrite) sdp = sdp.replace(/ (\d+) typ host/g, ` ${rewrite} typ host`);
          await pc.setRemoteDescription({ type: 'answer', sdp });
          return response.headers.get('Location');
        }
        """;

    [Fact]
    public async Task Chromium_PlaysTheTestPatternOverWhep_WithTheBarsInTheirColoursAndMotion()
    {
        var page = await OpenAsync();
        var location = await page.EvaluateAsync<string>(PlayScript, new object?[] { "test", null });
        Assert.Matches("^/test/whep/[A-Za-z0-9]+$", location);
        await WaitForFramesAsync(page, 20);

        var pixels = await ReadCanvasAsync(page, "#whep", StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} over WebRTC", tolerance: 24);
        }

        // The top of the picture moves: a row read a few frames apart differs.
        var moving = Enumerable.Range(0, 80).Select(i => (i * 8, 100)).ToArray();
        var before = await ReadCanvasAsync(page, "#whep", moving);
        await page.WaitForTimeoutAsync(300);
        var after = await ReadCanvasAsync(page, "#whep", moving);
        Assert.NotEqual(before.SelectMany(p => p), after.SelectMany(p => p));

        var firstFrame = await page.EvaluateAsync<double?>("() => window.whep.firstFrameMs");
        Assert.NotNull(firstFrame);

        // The session is counted on the feed, and DELETE ends it.
        var feed = await GetWebRtcCountersAsync();
        Assert.Equal(1, feed.GetProperty("sessionsNow").GetInt64());
        Assert.True(feed.GetProperty("packetsSent").GetInt64() > 20);
        using var http = new HttpClient();
        using var deleted = await http.DeleteAsync(_server.Http(location));
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        await WaitUntilAsync(async () => (await GetWebRtcCountersAsync()).GetProperty("sessionsNow").GetInt64() == 0, TimeSpan.FromSeconds(5));
        Assert.Contains("WebRTC viewer", _server.Output, StringComparison.Ordinal);
    }

    private async Task<JsonElement> GetWebRtcCountersAsync()
    {
        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(_server.Http("/api/feeds/test")));
        var part = feed.RootElement.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("part").GetString() == "webrtc");
        return part.GetProperty("counters").Clone();
    }

    private async Task<IPage> OpenAsync()
    {
        var page = await browser.Instance.NewPageAsync();
        _pages.Add(page);
        page.Console += (_, message) => Console.WriteLine($"[page] {message.Text}");
        // A same-origin page without players of its own.
        await page.GotoAsync(_server.Http("/healthz").ToString());
        return page;
    }

    internal static async Task WaitForFramesAsync(IPage page, int frames, int timeoutMs = 20_000)
    {
        try
        {
            await page.WaitForFunctionAsync(
                $"() => {{ const v = document.querySelector('#whep'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > {frames}; }}",
                null,
                new() { Timeout = timeoutMs });
        }
        catch (TimeoutException)
        {
            var state = await page.EvaluateAsync<string>("() => window.whep ? `ice ${window.whep.pc.iceConnectionState} pc ${window.whep.pc.connectionState} frames ${document.querySelector('#whep').getVideoPlaybackQuality().totalVideoFrames}` : 'no session'");
            throw new TimeoutException($"no {frames} frames decoded: {state}");
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(100);
        }
    }

    internal static (int X, int Y)[] StaticBarCentres(int width, int height) =>
        [.. Enumerable.Range(0, 8).Select(bar => ((bar * width / 8) + (width / 16), height - 10))];
}
