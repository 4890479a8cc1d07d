using System.Net;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary><c>/openapi/v1.json</c> from the real server: every route in it, described, and its GET JSON routes answering.</summary>
public class OpenApiDocumentTests
{
    // Every route the server maps (the EndpointDataSource's patterns, as EveryRouteHasAnAccessRuleTests enumerates
    // them), in the document's spelling. Kept here by hand on purpose: a new route fails this test until it is listed.
    private static readonly string[] s_routes =
    [
        "/ws/{path}", "/eyetoy", "/video_websocket", "/websocket", "/mjpeg/{name}", "/snapshot/{file}", "/hls/{path}", "/api/hls", "/api/feeds", "/api/feeds/{name}",
        "/api/feeds/{path}", "/api/feeds/{feed}/controls", "/api/feeds/{feed}/controls/{name}", "/healthz", "/healthcheck", "/metrics",
        "/ts/{feed}", "/in/{name}", "/out/{name}", "/api/relay", "/ws/api", "/api/streams", "/api/streams/{stream}", "/api/destinations",
        "/api/destinations/{id}", "/api", "/api/auth/me", "/api/auth/login", "/api/auth/logout", "/api/auth/token", "/", "/watch/{feed}", "/{file}",
        "/openapi/v1.json", "/api/config/schema", "/api/sources", "/api/sources/{name}", "/api/sources/{name}/restart",
        "/{feed}/whep", "/{feed}/whep/{session}",
    ];

    [Fact]
    public async Task WithTheGo2rtcPort_TheDocumentListsGo2rtcsRoutes_WithTheirOwnWords()
    {
        await using var server = await OspreyProcess.StartAsync("--go2rtc-port", "0", "--source", "cam=testpattern:?width=160&height=120&fps=5");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var document = JsonDocument.Parse(await http.GetStringAsync(server.Http("openapi/v1.json")));
        var paths = document.RootElement.GetProperty("paths");
        foreach (var (path, method) in new[] { ("/api/ws", "get"), ("/api/frame.jpeg", "get"), ("/api/stream.mjpeg", "get"), ("/api/webrtc", "post"), ("/api/streams", "get") })
        {
            var operation = paths.GetProperty(path).GetProperty(method);
            Assert.Equal("go2rtc", operation.GetProperty("tags")[0].GetString());
        }

        // vw's /api/streams keeps its own words beside go2rtc's.
        Assert.Equal("vw", paths.GetProperty("/api/streams").GetProperty("post").GetProperty("tags")[0].GetString());
    }

    [Fact]
    public async Task TheDocument_ListsEveryRoute_WithSummaryAndTag_AndItsGetJsonRoutesAnswerAsDocumented()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=160&height=120&fps=5");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var document = JsonDocument.Parse(await http.GetStringAsync(server.Http("openapi/v1.json")));
        Assert.StartsWith("3.", document.RootElement.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = document.RootElement.GetProperty("paths");
        var listed = paths.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var missing = s_routes.Where(r => !listed.Contains(r)).ToList();
        Assert.True(missing.Count == 0, "not in the document: " + string.Join(", ", missing));

        foreach (var path in paths.EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(o => o.Name != "parameters"))
            {
                var where = $"{operation.Name} {path.Name}";
                Assert.True(operation.Value.TryGetProperty("summary", out var summary) && summary.GetString()!.Length > 0, where + " has no summary");
                Assert.True(operation.Value.TryGetProperty("tags", out var tags) && tags.GetArrayLength() > 0, where + " has no tag");
            }
        }

        // The JSON APIs' GET routes, with their parameters filled in, answer as documented.
        foreach (var (path, expected) in new[]
        {
            ("api/feeds", HttpStatusCode.OK), ("api/feeds/cam", HttpStatusCode.OK), ("api/feeds/nope", HttpStatusCode.NotFound), ("healthz", HttpStatusCode.OK),
            ("healthcheck", HttpStatusCode.OK), ("api/streams/all", HttpStatusCode.OK), ("api/destinations/all", HttpStatusCode.OK), ("api/relay", HttpStatusCode.OK),
            ("api/auth/me", HttpStatusCode.OK), ("metrics", HttpStatusCode.OK), ("docs/", HttpStatusCode.OK),
            ("api/config/schema", HttpStatusCode.OK), ("api/sources", HttpStatusCode.OK), ("api/sources/cam", HttpStatusCode.OK), ("api/sources/nope", HttpStatusCode.NotFound),
        })
        {
            var response = await http.GetAsync(server.Http(path));
            Assert.True(response.StatusCode == expected, $"GET /{path}: {response.StatusCode}");
            var documented = paths.EnumerateObject().Any(p => Matches(p.Name, "/" + path) && p.Value.TryGetProperty("get", out var get)
                && get.GetProperty("responses").EnumerateObject().Any(r => r.Name == ((int)expected).ToString(System.Globalization.CultureInfo.InvariantCulture) || r.Name == "200" || r.Name == "default"));
            Assert.True(documented, $"GET /{path} is not in the document");
        }
    }

    private static bool Matches(string template, string path)
    {
        var t = template.Split('/');
        var p = path.TrimEnd('/').Split('/');
        return t.Length == p.Length && t.Zip(p).All(x => x.First.StartsWith('{') || x.First == x.Second)
            || (template.EndsWith("/{documentName}", StringComparison.Ordinal) && path.StartsWith("/docs", StringComparison.Ordinal));
    }
}
