using System.Net;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>The page's MPEG-TS view: jsmpeg, vendored at build time, served by Osprey and playing its TS feeds.</summary>
[Collection("chromium")]
public sealed class JsmpegPageTests(DefaultServerFixture fixture)
{
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
}
