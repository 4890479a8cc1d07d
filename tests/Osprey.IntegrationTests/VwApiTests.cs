using System.Net;
using System.Net.WebSockets;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>vw's REST API (cmd/http.go) route by route against the real server, with vw's exact bodies.</summary>
public class VwApiTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task Streams_AddListGetUpdateDelete_AnswerAsVwDoes()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");

        var added = await SendAsync(server, "POST", "api/streams", """{"stream":"/stream/front/large","feeds":["video0","audio0"]}""");
        Assert.Equal(HttpStatusCode.OK, added.Status);
        Assert.Equal("application/json", added.ContentType);
        Assert.Equal("{\"stream\":\"stream/front/large\",\"feeds\":[\"video0\",\"audio0\"]}\n", added.Body);

        // PUT and vw's own UPDATE method do the same; names match case-insensitively, unknown fields are ignored.
        var put = await SendAsync(server, "PUT", "api/streams", """{"Stream":"stream/back","FEEDS":["video1"],"extra":1}""");
        Assert.Equal("{\"stream\":\"stream/back\",\"feeds\":[\"video1\"]}\n", put.Body);
        var update = await SendAsync(server, "UPDATE", "api/streams", """{"stream":"stream/side","feeds":[]}""");
        Assert.Equal("{\"stream\":\"stream/side\",\"feeds\":[]}\n", update.Body);

        var all = await SendAsync(server, "GET", "api/streams/all");
        Assert.Equal("{\"stream/front/large\":[\"video0\",\"audio0\"],\"stream/back\":[\"video1\"],\"stream/side\":[]}\n", all.Body);

        var one = await SendAsync(server, "GET", "api/streams/stream/front/large");
        Assert.Equal("[\"video0\",\"audio0\"]\n", one.Body);

        // Muting as in vw's README: re-POST without the audio feed.
        await SendAsync(server, "POST", "api/streams", """{"stream":"/stream/front/large","feeds":["video0"]}""");
        Assert.Equal("[\"video0\"]\n", (await SendAsync(server, "GET", "api/streams/stream/front/large")).Body);

        var missing = await SendAsync(server, "GET", "api/streams/stream/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("Stream not found\n", missing.Body);

        // gorilla/mux's [a-zA-Z0-9\-\/]+: underscores and dots are not routes.
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, "GET", "api/streams/stream_x")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, "DELETE", "api/streams/a.b")).Status);

        var deleted = await SendAsync(server, "DELETE", "api/streams/stream/front/large");
        Assert.Equal("\"stream/front/large\"\n", deleted.Body);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, "GET", "api/streams/stream/front/large")).Status);

        // Shadowed and dead in vw: here it deletes every stream and answers "deleteAll".
        var deleteAll = await SendAsync(server, "DELETE", "api/streams/all");
        Assert.Equal("\"deleteAll\"\n", deleteAll.Body);
        Assert.Equal("{}\n", (await SendAsync(server, "GET", "api/streams/all")).Body);
    }

    [Fact]
    public async Task Destinations_AddListGetUpdateDelete_AnswerAsVwDoes_WithoutListingTokens()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1", "--allow-insecure-token");

        var added = await SendAsync(server, "POST", "api/destinations", """{"stream":"/stream/front/large","destination":"ws://127.0.0.1:9/in/video0","id":"0","token":"secret-jwt"}""");
        Assert.Equal(HttpStatusCode.OK, added.Status);
        Assert.Equal("application/json", added.ContentType);
        Assert.Equal("{\"id\":\"0\",\"stream\":\"stream/front/large\",\"destination\":\"ws://127.0.0.1:9/in/video0\",\"token\":\"secret-jwt\"}\n", added.Body);

        await SendAsync(server, "PUT", "api/destinations", """{"stream":"video1","destination":"ws://127.0.0.1:9/in/video1","id":"cam/1"}""");
        var all = await SendAsync(server, "GET", "api/destinations/all");
        Assert.Equal(
            "{\"0\":{\"id\":\"0\",\"stream\":\"stream/front/large\",\"destination\":\"ws://127.0.0.1:9/in/video0\",\"token\":\"\"}," +
            "\"cam/1\":{\"id\":\"cam/1\",\"stream\":\"video1\",\"destination\":\"ws://127.0.0.1:9/in/video1\",\"token\":\"\"}}\n",
            all.Body);

        Assert.Equal("{\"id\":\"cam/1\",\"stream\":\"video1\",\"destination\":\"ws://127.0.0.1:9/in/video1\",\"token\":\"\"}\n", (await SendAsync(server, "GET", "api/destinations/cam/1")).Body);

        // An unknown id is a zero-value rule with 200, as vw.
        var unknown = await SendAsync(server, "GET", "api/destinations/nope");
        Assert.Equal(HttpStatusCode.OK, unknown.Status);
        Assert.Equal("{\"id\":\"\",\"stream\":\"\",\"destination\":\"\",\"token\":\"\"}\n", unknown.Body);

        // Re-POST with the same id swaps the destination.
        await SendAsync(server, "UPDATE", "api/destinations", """{"stream":"/stream/front/large","destination":"ws://127.0.0.1:9/in/video2","id":"0"}""");
        Assert.Contains("ws://127.0.0.1:9/in/video2", (await SendAsync(server, "GET", "api/destinations/0")).Body, StringComparison.Ordinal);

        Assert.Equal("\"cam/1\"\n", (await SendAsync(server, "DELETE", "api/destinations/cam/1")).Body);
        Assert.DoesNotContain("cam/1", (await SendAsync(server, "GET", "api/destinations/all")).Body, StringComparison.Ordinal);

        Assert.Equal("\"deleteAll\"\n", (await SendAsync(server, "DELETE", "api/destinations/all")).Body);
        Assert.Equal("{}\n", (await SendAsync(server, "GET", "api/destinations/all")).Body);
    }

    [Fact]
    public async Task BadJson_Is500WithTheParseError_AndTheServerCarriesOn()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        foreach (var (path, body) in new[] { ("api/streams", "not json"), ("api/destinations", "{\"id\":"), ("api/streams", "[1,2]"), ("api/destinations", "{\"id\":5}"), ("api/streams", "") })
        {
            var response = await SendAsync(server, "POST", path, body);
            Assert.Equal(HttpStatusCode.InternalServerError, response.Status);
            Assert.StartsWith("text/plain", response.ContentType, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(response.Body));
        }

        Assert.Equal("\"ok\"\n", (await SendAsync(server, "GET", "healthcheck")).Body);
    }

    [Fact]
    public async Task HealthcheckAndApiStub_AnswerAsVwDoes()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        var health = await SendAsync(server, "GET", "healthcheck");
        Assert.Equal(HttpStatusCode.OK, health.Status);
        Assert.Equal("\"ok\"\n", health.Body);
        foreach (var method in new[] { "GET", "POST", "DELETE" })
        {
            var stub = await SendAsync(server, method, "api");
            Assert.Equal(HttpStatusCode.OK, stub.Status);
            Assert.Equal("", stub.Body);
        }
    }

    [Fact]
    public async Task VwCrashSequences_DeleteStreamThenRepostDestination_AndConcurrentRewiring_LeaveTheServerHealthy()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");

        // vw's agg closed a stream's channels on delete and again on the destination's re-POST: "close of closed channel".
        await SendAsync(server, "POST", "api/streams", """{"stream":"stream/a","feeds":["video0","audio0"]}""");
        await SendAsync(server, "POST", "api/destinations", """{"stream":"stream/a","destination":"ws://127.0.0.1:9/in/a","id":"0"}""");
        await SendAsync(server, "DELETE", "api/streams/stream/a");
        var reposted = await SendAsync(server, "POST", "api/destinations", """{"stream":"stream/a","destination":"ws://127.0.0.1:9/in/b","id":"0"}""");
        Assert.Equal(HttpStatusCode.OK, reposted.Status);
        await SendAsync(server, "DELETE", "api/destinations/0");

        // vw's handlers raced its hub on the rule maps; hammer both from many requests at once.
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => (i % 4) switch
        {
            0 => SendAsync(server, "POST", "api/streams", $$"""{"stream":"stream/s{{i % 7}}","feeds":["video0"]}"""),
            1 => SendAsync(server, "DELETE", $"api/streams/stream/s{i % 7}"),
            2 => SendAsync(server, "POST", "api/destinations", $$"""{"stream":"stream/s{{i % 7}}","destination":"ws://127.0.0.1:9/in/x","id":"{{i % 5}}"}"""),
            _ => SendAsync(server, "DELETE", i % 8 == 3 ? "api/destinations/all" : $"api/destinations/{i % 5}"),
        }));

        Assert.Equal("\"ok\"\n", (await SendAsync(server, "GET", "healthcheck")).Body);
        Assert.False(server.HasExited);
        await SendAsync(server, "DELETE", "api/streams/all");
        await SendAsync(server, "DELETE", "api/destinations/all");
        Assert.Equal("{}\n", (await SendAsync(server, "GET", "api/streams/all")).Body);
        Assert.Equal("{}\n", (await SendAsync(server, "GET", "api/destinations/all")).Body);
    }

    [Fact]
    public async Task ControlVerbs_OnTheApiTopic_AnswerAsVwInternalApi()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(server.Ws("ws/api"), CancellationToken.None);

        Assert.Equal("""{"healthcheck":"ok"}""", await AskAsync(socket, """{"verb":"healthcheck"}"""));
        Assert.Equal("""{"stream":"stream/x","feeds":["video0","audio0"]}""", await AskAsync(socket, """{"verb":"add","what":"stream","rule":{"stream":"/stream/x","feeds":["video0","audio0"]}}"""));
        Assert.Equal("""{"feeds":["video0","audio0"]}""", await AskAsync(socket, """{"verb":"list","what":"stream","which":"stream/x"}"""));
        Assert.Equal("""{"feeds":null}""", await AskAsync(socket, """{"verb":"list","what":"stream","which":"stream/none"}"""));
        Assert.Equal("""{"stream/x":["video0","audio0"]}""", await AskAsync(socket, """{"verb":"list","what":"stream","which":"all"}"""));
        Assert.Equal(
            """{"id":"7","stream":"stream/x","destination":"ws://127.0.0.1:9/in/x","token":""}""",
            await AskAsync(socket, """{"verb":"add","what":"destination","rule":{"id":"7","stream":"stream/x","destination":"ws://127.0.0.1:9/in/x"}}"""));
        Assert.Equal("""{"id":"7","stream":"stream/x","destination":"ws://127.0.0.1:9/in/x","token":""}""", await AskAsync(socket, """{"verb":"list","what":"destination","which":"7"}"""));
        Assert.Equal("""{"7":{"id":"7","stream":"stream/x","destination":"ws://127.0.0.1:9/in/x","token":""}}""", await AskAsync(socket, """{"verb":"list","what":"destination","which":"all"}"""));
        Assert.Equal("""{"error":"Cannot delete apiRule"}""", await AskAsync(socket, """{"verb":"delete","what":"destination","which":"apiRule"}"""));
        Assert.Equal("""{"deleted":"7"}""", await AskAsync(socket, """{"verb":"delete","what":"destination","which":"7"}"""));
        Assert.Equal("""{"deleted":"deleteAll"}""", await AskAsync(socket, """{"verb":"delete","what":"destination","which":"all"}"""));
        Assert.Equal("""{"deleted":"stream/x"}""", await AskAsync(socket, """{"verb":"delete","what":"stream","which":"stream/x"}"""));
        Assert.Equal("""{"deleted":"deleteAll"}""", await AskAsync(socket, """{"verb":"delete","what":"stream","which":"all"}"""));
        Assert.Equal("""{"error":"Unrecognised Command"}""", await AskAsync(socket, "hello"));
        Assert.Equal("""{"error":"Unrecognised Command"}""", await AskAsync(socket, """{"verb":"fly"}"""));

        // The REST view agrees with what the verbs did.
        Assert.Equal("{}\n", (await SendAsync(server, "GET", "api/streams/all")).Body);
    }

    [Fact]
    public async Task ApiRule_FromTheApiOption_IsListed_AndComesBackAfterDeleteAll()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--api", "ws://127.0.0.1:9/bi/api");
        var all = await SendAsync(server, "GET", "api/destinations/all");
        Assert.Equal("{\"apiRule\":{\"id\":\"apiRule\",\"stream\":\"api\",\"destination\":\"ws://127.0.0.1:9/bi/api\",\"token\":\"\"}}\n", all.Body);
        await SendAsync(server, "DELETE", "api/destinations/all");
        Assert.Equal(all.Body, (await SendAsync(server, "GET", "api/destinations/all")).Body);
    }

    [Fact]
    public async Task ControlVerbs_ThroughARelay_ReachTheApiRuleAndAreAnswered_EvenDeleteAll()
    {
        // vw's deployment: VW_API points the control API at a bidirectional relay path that an operator also joins.
        await using var relay = await OspreyProcess.StartAsync("relay");
        await using var vw = await OspreyProcess.StartAsync("stream", "--api", relay.Ws("bi/lab/api").ToString());
        using var operatorSocket = new ClientWebSocket();
        await operatorSocket.ConnectAsync(relay.Ws("bi/lab/api"), CancellationToken.None);

        // The apiRule connects in its own time (a cancelled receive would abort the socket, so ask only then).
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(await SendAsync(vw, "GET", "api/relay")).Body.Contains("\"state\":\"connected\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var health = await AskAsync(operatorSocket, """{"verb":"healthcheck"}""");
        Assert.Equal("""{"healthcheck":"ok"}""", health);
        Assert.Equal("""{"stream":"stream/x","feeds":["video0"]}""", await AskAsync(operatorSocket, """{"verb":"add","what":"stream","rule":{"stream":"stream/x","feeds":["video0"]}}"""));
        Assert.Equal("[\"video0\"]\n", (await SendAsync(vw, "GET", "api/streams/stream/x")).Body);
        await AskAsync(operatorSocket, """{"verb":"add","what":"destination","rule":{"id":"9","stream":"stream/x","destination":"ws://127.0.0.1:9/in/x"}}""");

        // Delete-all keeps the connection it came over, so its reply arrives, and apiRule is still there.
        Assert.Equal("""{"deleted":"deleteAll"}""", await AskAsync(operatorSocket, """{"verb":"delete","what":"destination","which":"all"}"""));
        Assert.Equal("""{"healthcheck":"ok"}""", await AskAsync(operatorSocket, """{"verb":"healthcheck"}"""));
        var all = (await SendAsync(vw, "GET", "api/destinations/all")).Body;
        Assert.Contains("apiRule", all, StringComparison.Ordinal);
        Assert.DoesNotContain("\"9\"", all, StringComparison.Ordinal);
    }

    internal static async Task<string> AskAsync(ClientWebSocket socket, string command)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(command), WebSocketMessageType.Text, true, CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cts.Token);
            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            length += result.Count;
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }

    internal static async Task<(HttpStatusCode Status, string? ContentType, string Body)> SendAsync(OspreyProcess server, string method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), server.Http(path));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await s_http.SendAsync(request);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }
}
