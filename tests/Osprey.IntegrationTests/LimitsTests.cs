using System.Net;
using System.Net.WebSockets;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// What clients can make is bounded (issue 13, item 4): feeds, streams, destinations, topics and viewers each
/// have a limit, refused with a clear 503 and counted in /api/relay; a 404 does not list the feeds.
/// </summary>
public class LimitsTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task EveryKindOfClientMadeState_PastItsLimit_IsRefusedWith503_AndCountedInApiRelay()
    {
        await using var server = await OspreyProcess.StartAsync(
            "stream", "--source", "cam=testpattern:?width=64&height=48&fps=10",
            "--max-feeds", "1", "--max-streams", "1", "--max-destinations", "1", "--max-topics", "1", "--max-viewers-per-feed", "1", "--allow-destination", "127.0.0.1");

        using (var first = await s_http.PostAsync(server.Http("ts/a"), new ByteArrayContent(new byte[188])))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using (var second = await s_http.PostAsync(server.Http("ts/b"), new ByteArrayContent(new byte[188])))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
            Assert.Contains("--max-feeds", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await VwApiTests.SendAsync(server, "POST", "api/streams", """{"stream":"s1","feeds":["a"]}""")).Status);
        var stream = await VwApiTests.SendAsync(server, "POST", "api/streams", """{"stream":"s2","feeds":["a"]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, stream.Status);
        Assert.Contains("--max-streams", stream.Body, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await VwApiTests.SendAsync(server, "POST", "api/destinations", """{"id":"1","stream":"s1","destination":"ws://127.0.0.1:9/in/x"}""")).Status);
        var destination = await VwApiTests.SendAsync(server, "POST", "api/destinations", """{"id":"2","stream":"s1","destination":"ws://127.0.0.1:9/in/x"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, destination.Status);
        Assert.Contains("--max-destinations", destination.Body, StringComparison.Ordinal);

        using var topic = new ClientWebSocket();
        await topic.ConnectAsync(server.Ws("some/topic"), CancellationToken.None);
        // The server joins the topic just after the 101 the client returns on.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !(await s_http.GetStringAsync(server.Http("api/relay"))).Contains("\"/some/topic\":1", StringComparison.Ordinal))
        {
            await Task.Delay(50);
        }

        using var secondTopic = new ClientWebSocket();
        secondTopic.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => secondTopic.ConnectAsync(server.Ws("other/topic"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, secondTopic.HttpStatusCode);

        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/raw"));
        await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(10));
        using var secondViewer = new ClientWebSocket();
        secondViewer.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => secondViewer.ConnectAsync(server.Ws("ws/cam/raw"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, secondViewer.HttpStatusCode);

        var relay = await s_http.GetStringAsync(server.Http("api/relay"));
        foreach (var kind in new[] { "feeds", "streams", "destinations", "topics" })
        {
            Assert.Matches($"\"{kind}\":{{\"max\":1,\"now\":1,\"refused\":[1-9]", relay);
        }

        Assert.Matches("\"viewers\":\\{\"max\":300,\"now\":1,\"refused\":1,\"maxPerFeed\":1\\}", relay);
    }

    [Fact]
    public async Task A404_SaysTheFeedIsUnknown_WithoutListingTheFeeds()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "secretcam=testpattern:?width=64&height=48&fps=5");
        foreach (var path in new[] { "api/feeds/nope", "mjpeg/nope", "snapshot/nope.jpg", "ws/nope/raw" })
        {
            using var response = await s_http.GetAsync(server.Http(path));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("nope", body, StringComparison.Ordinal);
            Assert.DoesNotContain("secretcam", body, StringComparison.Ordinal);
        }

        Assert.Contains("secretcam", await s_http.GetStringAsync(server.Http("api/feeds")), StringComparison.Ordinal);
    }
}
