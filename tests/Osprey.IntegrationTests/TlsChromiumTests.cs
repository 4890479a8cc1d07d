using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>
/// Chromium plays the page over HTTPS and its JPEG view over WSS, trusting only the test certificate (by its
/// public key's hash), as a browser trusting a real CA would. In the chromium collection so that it never runs
/// beside the shared browser.
/// </summary>
[Collection("chromium")]
public sealed class TlsChromiumTests
{
    [Fact]
    public async Task Page_OverHttps_PlaysTheDefaultJpegViewOverWss_WithTheStaticBarsInTheirColours()
    {
        using var cert = TestCertificate.Create();
        await using var server = await OspreyProcess.StartAsync("--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile);
        var browser = Browser.WithArgs($"--ignore-certificate-errors-spki-list={cert.SpkiSha256}");
        await browser.InitializeAsync();
        try
        {
            var page = await browser.Instance.NewPageAsync();
            var sockets = new List<string>();
            page.WebSocket += (_, socket) =>
            {
                lock (sockets)
                {
                    sockets.Add(socket.Url);
                }
            };
            var errors = new List<string>();
            page.PageError += (_, error) => errors.Add(error);
            // The JPEG view by name: the default is WebRTC, whose media is not on the TLS connection.
            var response = await page.GotoAsync(server.Http("/feeds.html?view=test:jpeg").ToString());
            Assert.NotNull(response);
            Assert.True(response.Ok, $"status {response.Status}");
            Assert.StartsWith("https://", page.Url, StringComparison.Ordinal);
            await page.WaitForFunctionAsync("() => window.osprey?.players?.test?.frames > 5", null, new() { Timeout = 20_000 });
            Assert.Empty(errors);
            Assert.Equal("jpeg", await page.EvaluateAsync<string>("() => window.osprey.players.test.view"));
            var pixels = await ReadCanvasAsync(page, "#canvas-test", [.. Enumerable.Range(0, 8).Select(bar => ((bar * 640 / 8) + 40, 470))]);
            for (var bar = 0; bar < 8; bar++)
            {
                AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} over wss");
            }

            lock (sockets)
            {
                Assert.Contains(sockets, url => url.StartsWith("wss://", StringComparison.Ordinal) && url.EndsWith("/ws/test/jpeg", StringComparison.Ordinal));
            }

            // The page came over HTTP/2 (ALPN); whether Chromium put the WebSocket on it (RFC 8441) is its choice.
            Assert.Equal("h2", await page.EvaluateAsync<string>("() => performance.getEntriesByType('navigation')[0].nextHopProtocol"));
            await page.CloseAsync();
        }
        finally
        {
            await browser.DisposeAsync();
        }
    }
}
