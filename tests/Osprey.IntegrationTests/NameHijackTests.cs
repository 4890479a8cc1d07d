using System.Net;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// Names that would take over another feed's URL (issue 13, item 5): a publisher or stream rule named
/// <c>test/raw</c> would otherwise be what every new viewer of <c>/ws/test/raw</c> gets.
/// </summary>
public class NameHijackTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task APublisherNamedAfterAViewRoute_IsRefused_AndViewersOfThatRouteStillGetTheSourcesRawFrames()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=64&height=48&fps=10");

        // The real ffmpeg, as an attacker would run it: it is refused and gives up.
        await using var ffmpeg = Ffmpeg.PublishVideo(server.Http("ts/test/raw"));
        Assert.True(await ffmpeg.WaitForExitAsync(TimeSpan.FromSeconds(15)), "ffmpeg kept publishing to /ts/test/raw");
        Assert.NotEqual(0, ffmpeg.ExitCode);

        foreach (var suffix in new[] { "raw", "jpeg", "mp4", "h264", "ts" })
        {
            using var response = await s_http.PostAsync(server.Http($"ts/test/{suffix}"), new ByteArrayContent(new byte[188]));
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            Assert.Contains($"/{suffix}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("\"name\":\"test/raw\"", await s_http.GetStringAsync(server.Http("api/feeds")), StringComparison.Ordinal);
        // Every refusal counted: ffmpeg's attempts and the five POSTs.
        using (var relay = System.Text.Json.JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/relay"))))
        {
            var refused = relay.RootElement.GetProperty("limits").GetProperty("publishers").GetProperty("refused").GetInt64();
            Assert.True(refused >= 6, $"{refused} publishers counted as refused");
        }

        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(3, TimeSpan.FromSeconds(10));
        Assert.All(viewer.Sizes, size => Assert.Equal(64 * 48 * 2, size));
    }

    [Fact]
    public async Task AStreamRuleNamedAfterAViewRouteOrAConfiguredSource_IsRefusedWith409_InVwsPlainText()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=64&height=48&fps=10");

        foreach (var name in new[] { "test/raw", "/test/jpeg", "x/ts", "test" })
        {
            var refused = await VwApiTests.SendAsync(server, "POST", "api/streams", $$"""{"stream":"{{name}}","feeds":["video0"]}""");
            Assert.Equal(HttpStatusCode.Conflict, refused.Status);
            Assert.StartsWith("text/plain", refused.ContentType, StringComparison.Ordinal);
            Assert.Contains("name it otherwise", refused.Body, StringComparison.Ordinal);
        }

        Assert.Equal("{}\n", (await VwApiTests.SendAsync(server, "GET", "api/streams/all")).Body);
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(3, TimeSpan.FromSeconds(10));
        Assert.All(viewer.Sizes, size => Assert.Equal(64 * 48 * 2, size));

        // An ordinary stream name is still taken, in vw's shape.
        var ok = await VwApiTests.SendAsync(server, "POST", "api/streams", """{"stream":"stream/front","feeds":["video0"]}""");
        Assert.Equal("{\"stream\":\"stream/front\",\"feeds\":[\"video0\"]}\n", ok.Body);
    }
}
