using System.Text.Json;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// Debian's firefox-esr, driven by Playwright over WebDriver BiDi (the <c>moz-firefox</c> channel, which takes a
/// stock Firefox): its DTLS ClientHello is the one that breaks DTLS stacks (fragmented since Firefox 148).
/// </summary>
/// <remarks>
/// Debian's Firefox ESR offers no H.264 for WebRTC: Firefox decodes WebRTC H.264 only with Cisco's OpenH264
/// plug-in, which it downloads itself at run time (there is no network here, and Debian does not package the
/// plug-in). So pixels cannot be checked in Firefox here; what is checked is that its offer is refused with a
/// reason a person can act on. (ICE with Firefox on loopback did not start either: under Playwright's BiDi channel
/// Firefox gathered only its interface addresses, not 127.0.0.1, whatever the loopback preferences said.)
/// </remarks>
public sealed class WebRtcFirefoxTests : IAsyncLifetime
{
    public const string FirefoxPath = "/usr/bin/firefox-esr";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private OspreyProcess _server = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(FirefoxPath))
        {
            throw new InvalidOperationException($"{FirefoxPath} is missing: run ./test.sh, which installs Debian's firefox-esr.");
        }

        _server = await OspreyProcess.StartAsync();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Firefox.LaunchAsync(new BrowserTypeLaunchOptions
        {
            Channel = "moz-firefox",
            ExecutablePath = FirefoxPath,
            Headless = true,
            FirefoxUserPrefs = new Dictionary<string, object>
            {
                ["media.navigator.permission.disabled"] = true,
            },
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task FirefoxEsrOffer_WithoutH264_IsRefusedWithTheReason()
    {
        var page = await OpenAsync();
        var result = await page.EvaluateAsync<JsonElement>(
            """
            async () => {
              const pc = new RTCPeerConnection();
              pc.addTransceiver('video', { direction: 'recvonly' });
              pc.addTransceiver('audio', { direction: 'recvonly' });
              await pc.setLocalDescription(await pc.createOffer());
              const sdp = pc.localDescription.sdp;
              const response = await fetch('/test/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
              pc.close();
              return { status: response.status, body: await response.text(), h264: /H264/i.test(sdp) };
            }
            """);
        Assert.False(result.GetProperty("h264").GetBoolean(), "this Firefox offers H.264 now: make this test check pixels as Chromium's does");
        Assert.Equal(400, result.GetProperty("status").GetInt32());
        Assert.Contains("H.264", result.GetProperty("body").GetString(), StringComparison.Ordinal);
    }

    private async Task<IPage> OpenAsync()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(_server.Http("/healthz").ToString());
        return page;
    }
}
