using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>Authentication, permissions and the browser protections, against the real server on loopback.</summary>
public class SecurityTests
{
    private const string Token = "0123456789abcdef-api-token";
    private static readonly string[] s_users =
    [
        "--source", "cam=testpattern:?width=320&height=240&fps=15",
        "--user", "alice:alice-pass:read:cam",
        "--user", "bob:bob-pass:all",
        "--user", "pub:pub-pass:publish:live",
        "--token", $"{Token}:api",
    ];

    /// <summary>Every kind of route: its method, path, the action it needs, and a credential that has it.</summary>
    public static TheoryData<string, string, string> Routes => new()
    {
        { "GET", "api/feeds/cam", "alice" },
        { "GET", "api/feeds", "alice" },
        { "GET", "mjpeg/cam", "alice" },
        { "GET", "snapshot/cam.jpg", "alice" },
        { "WS", "ws/cam/jpeg", "alice" },
        { "WS", "ws/cam/raw", "alice" },
        { "WS", "eyetoy", "alice" },
        { "WS", "video_websocket", "alice" },
        { "WS", "out/cam", "alice" },
        { "POST", "ts/live", "pub" },
        { "WS", "in/live", "pub" },
        { "WS", "lab/topic", "bob" },
        { "GET", "api/streams/all", "token" },
        { "POST", "api/streams", "token" },
        { "GET", "api/destinations/all", "token" },
        { "GET", "api/relay", "token" },
        { "WS", "ws/api", "token" },
        { "POST", "api/feeds/cam/restart", "token" },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task EveryRoute_RefusesNoWrongAndMisscopedCredentials_AndAllowsTheRightOnes_FromLoopbackToo(string method, string path, string who)
    {
        await using var server = await OspreyProcess.StartAsync(s_users);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(server, method, path, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(server, method, path, Basic(who == "token" ? "bob" : who, "wrong")));

        // Right credentials without the action, or with it on another path.
        var misscoped = who switch
        {
            "alice" => Basic("pub", "pub-pass"),   // publish on live only
            "pub" => Basic("alice", "alice-pass"), // read on cam only
            _ => Basic("alice", "alice-pass"),
        };
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(server, method, path, misscoped));

        var right = who switch
        {
            "alice" => Basic("alice", "alice-pass"),
            "pub" => Basic("pub", "pub-pass"),
            "bob" => Basic("bob", "bob-pass"),
            _ => new AuthenticationHeaderValue("Bearer", Token),
        };
        var allowed = await StatusAsync(server, method, path, right);
        Assert.True(allowed is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden), $"{method} /{path} as {who}: {allowed}");
    }

    [Fact]
    public async Task OpenRoutes_AnswerWithoutCredentials_AndTheFeedListShowsOnlyReadableFeeds()
    {
        await using var server = await OspreyProcess.StartAsync([.. s_users, "--source", "other=testpattern:?width=320&height=240&fps=5"]);
        using var http = new HttpClient();
        foreach (var path in new[] { "", "healthz", "healthcheck", "app.js", "api/auth/me" })
        {
            using var response = await http.GetAsync(server.Http(path));
            Assert.True(response.IsSuccessStatusCode, $"/{path}: {response.StatusCode}");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, server.Http("api/feeds"));
        request.Headers.Authorization = Basic("alice", "alice-pass");
        using var list = await http.SendAsync(request);
        using var feeds = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
        Assert.Equal(["cam"], feeds.RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task WithNoUsers_AnyoneReadsAndPublishes_ApiOnlyFromLoopbackUnderALocalHostName()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, "GET", "api/feeds/cam", null));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StatusAsync(server, "WS", "ws/cam/jpeg", null));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, "GET", "api/streams/all", null));
        Assert.Contains("Access: anyone: read,publish on **; api,metrics on ** from loopback", server.Output, StringComparison.Ordinal);

        // DNS rebinding: a page of attacker.example resolved to 127.0.0.1 reaches loopback with its own Host.
        using var http = new HttpClient();
        using var rebound = new HttpRequestMessage(HttpMethod.Get, server.Http("api/streams/all"));
        rebound.Headers.Host = "attacker.example";
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(rebound)).StatusCode);
        using var viewer = new HttpRequestMessage(HttpMethod.Get, server.Http("api/feeds/cam"));
        viewer.Headers.Host = "attacker.example";
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(viewer)).StatusCode);
    }

    [Fact]
    public async Task CrossSitePages_GetNoAmbientRights_TheLoopbackRuleIncluded_ButMayWatchWhatAnyoneMay()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15", "--allow-origin", "https://allowed.example");

        // Another site's page in a browser on this machine: the loopback rule that gives local clients the API is not
        // its to use (cross-site WebSocket hijacking), but it may watch an open feed as jsmpeg's view-stream.html does.
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(server, "WS", "ws/api", null, origin: "https://evil.example"));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StatusAsync(server, "WS", "ws/api", null));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StatusAsync(server, "WS", "ws/api", null, origin: server.BaseUri.GetLeftPart(UriPartial.Authority)));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StatusAsync(server, "WS", "ws/api", null, origin: "https://allowed.example"));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StatusAsync(server, "WS", "ws/cam/jpeg", null, origin: "https://evil.example"));

        using var http = new HttpClient();
        // A form on another site: refused for its type before anything reads it.
        using (var form = new HttpRequestMessage(HttpMethod.Post, server.Http("api/destinations")))
        {
            form.Headers.Add("Origin", "https://evil.example");
            form.Content = new FormUrlEncodedContent([new("stream", "cam"), new("destination", "ws://evil.example/in/x")]);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await http.SendAsync(form)).StatusCode);
        }

        // Even as JSON (which a browser would only send after a preflight, refused below), no loopback rights.
        using (var json = new HttpRequestMessage(HttpMethod.Post, server.Http("api/streams")))
        {
            json.Headers.Add("Origin", "https://evil.example");
            json.Content = new StringContent("""{"stream":"/stream/y","feeds":["cam"]}""", Encoding.UTF8, "application/json");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(json)).StatusCode);
        }

        // A text/plain body (a "simple" request no preflight guards): refused for its type.
        using (var plain = new StringContent("""{"stream":"/stream/x","feeds":["cam"]}""", Encoding.UTF8, "text/plain"))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await http.PostAsync(server.Http("api/streams"), plain)).StatusCode);
        }

        using (var json = new StringContent("""{"stream":"/stream/x","feeds":["cam"]}""", Encoding.UTF8, "application/json"))
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(server.Http("api/streams"), json)).StatusCode);
        }

        // CORS: a preflight from an allowed origin is answered; from another it is refused.
        using (var preflight = new HttpRequestMessage(HttpMethod.Options, server.Http("api/feeds")))
        {
            preflight.Headers.Add("Origin", "https://allowed.example");
            preflight.Headers.Add("Access-Control-Request-Method", "GET");
            using var answer = await http.SendAsync(preflight);
            Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
            Assert.Equal("https://allowed.example", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }

        using (var preflight = new HttpRequestMessage(HttpMethod.Options, server.Http("api/feeds")))
        {
            preflight.Headers.Add("Origin", "https://evil.example");
            preflight.Headers.Add("Access-Control-Request-Method", "GET");
            using var answer = await http.SendAsync(preflight);
            Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
            Assert.False(answer.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Fact]
    public async Task ThePagesLogin_SetsASessionCookie_ThatAWebSocketCarries_AndScopedTokensGrantNoMoreThanAsked()
    {
        await using var server = await OspreyProcess.StartAsync(s_users);
        var cookies = new CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies };
        using var http = new HttpClient(handler);

        using (var wrong = new StringContent("""{"user":"alice","password":"nope"}""", Encoding.UTF8, "application/json"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync(server.Http("api/auth/login"), wrong)).StatusCode);
        }

        using (var login = new StringContent("""{"user":"alice","password":"alice-pass"}""", Encoding.UTF8, "application/json"))
        {
            using var answer = await http.PostAsync(server.Http("api/auth/login"), login);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var cookie = answer.Headers.GetValues("Set-Cookie").Single();
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        var session = cookies.GetCookies(server.BaseUri)["osprey_session"]!.Value;
        using (var hijack = new ClientWebSocket())
        {
            // The same cookie on a WebSocket opened by another site's page does not count.
            hijack.Options.CollectHttpResponseDetails = true;
            hijack.Options.SetRequestHeader("Cookie", $"osprey_session={session}");
            hijack.Options.SetRequestHeader("Origin", "https://evil.example");
            await Assert.ThrowsAsync<WebSocketException>(() => hijack.ConnectAsync(server.Ws("ws/cam/jpeg"), CancellationToken.None));
            Assert.Equal(HttpStatusCode.Unauthorized, hijack.HttpStatusCode);
        }

        using (var ws = new ClientWebSocket())
        {
            ws.Options.SetRequestHeader("Cookie", $"osprey_session={session}");
            await ws.ConnectAsync(server.Ws("ws/cam/jpeg"), CancellationToken.None);
            var buffer = new byte[64 * 1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.Equal(WebSocketMessageType.Binary, (await ws.ReceiveAsync(buffer, timeout.Token)).MessageType);
        }

        // bob asks for a token that reads cam for a minute: an <img> elsewhere can use it, nothing else can.
        using var bob = new HttpClient();
        bob.DefaultRequestHeaders.Authorization = Basic("bob", "bob-pass");
        using var ask = new StringContent("""{"actions":"read","path":"cam","seconds":60}""", Encoding.UTF8, "application/json");
        using var issued = await bob.PostAsync(server.Http("api/auth/token"), ask);
        Assert.Equal(HttpStatusCode.OK, issued.StatusCode);
        var token = JsonDocument.Parse(await issued.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        using var plain = new HttpClient();
        using (var snapshot = await plain.GetAsync(server.Http($"snapshot/cam.jpg?token={Uri.EscapeDataString(token)}")))
        {
            Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);
            Assert.Equal("image/jpeg", snapshot.Content.Headers.ContentType?.MediaType);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await plain.GetAsync(server.Http($"api/streams/all?token={Uri.EscapeDataString(token)}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await plain.GetAsync(server.Http($"snapshot/cam.jpg?token={Uri.EscapeDataString(token[..^2])}"))).StatusCode);

        // alice may not mint a token for what she cannot do.
        using var alice = new HttpClient();
        alice.DefaultRequestHeaders.Authorization = Basic("alice", "alice-pass");
        using var tooMuch = new StringContent("""{"actions":"api","path":"cam"}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostAsync(server.Http("api/auth/token"), tooMuch)).StatusCode);
    }

    [Fact]
    public async Task RefusedCredentials_WaitASecond_AreLoggedAtMostTwentyAMinute_AndCounted()
    {
        await using var server = await OspreyProcess.StartAsync(s_users);
        using var http = new HttpClient();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, server.Http("api/feeds/cam")))
        {
            wrong.Headers.Authorization = Basic("alice", "guess");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        }

        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"a wrong password was answered after {watch.Elapsed.TotalMilliseconds:0} ms");
        // Right credentials and no credentials are answered at once.
        watch.Restart();
        using (var right = new HttpRequestMessage(HttpMethod.Get, server.Http("api/feeds/cam")))
        {
            right.Headers.Authorization = Basic("alice", "alice-pass");
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(0.9), $"good and missing credentials took {watch.Elapsed.TotalMilliseconds:0} ms");

        // A guessing client in parallel: each guess waits, the log gets at most 20 lines a minute, the metric counts all.
        await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            using var guess = new HttpRequestMessage(HttpMethod.Get, server.Http("api/feeds/cam"));
            guess.Headers.Authorization = i % 2 == 0 ? Basic("alice", $"guess{i}") : new AuthenticationHeaderValue("Bearer", $"not-a-token-{i}");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(guess)).StatusCode);
        }));
        await Task.Delay(300); // the log lines reach the test's reader
        var logged = server.Output.Split('\n').Count(l => l.Contains("Refused 127.0.0.1 GET /api/feeds/cam:", StringComparison.Ordinal));
        Assert.Equal(20, logged);
        Assert.Contains("Refused 127.0.0.1 GET /api/feeds/cam: user 'alice' with a wrong password or unknown", server.Output, StringComparison.Ordinal);
        using var metrics = new HttpRequestMessage(HttpMethod.Get, server.Http("metrics"));
        metrics.Headers.Authorization = Basic("bob", "bob-pass");
        var text = await (await http.SendAsync(metrics)).Content.ReadAsStringAsync();
        var sample = System.Text.RegularExpressions.Regex.Match(text, @"^osprey_credentials_refused_total(\{[^}]*\})? (\S+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(sample.Success, text);
        Assert.Equal("31", sample.Groups[2].Value);
    }

    [Fact]
    public async Task ThePage_HasAContentSecurityPolicy_FrameOptionsAndNoSniff()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=15");
        using var http = new HttpClient();
        foreach (var page in new[] { "", "eyetoy.html", "berrymse.html" })
        {
            using var response = await http.GetAsync(server.Http(page));
            var csp = response.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'self'", csp, StringComparison.Ordinal);
            Assert.Equal("SAMEORIGIN", response.Headers.GetValues("X-Frame-Options").Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            if (page.Length > 0)
            {
                Assert.Contains("'sha256-", csp, StringComparison.Ordinal); // the seed pages' inline scripts, by hash
            }
        }
    }

    [Fact]
    public async Task AMalformedUser_StopsStartUpWithAClearMessage_NotAnOpenServer()
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--port", "0", "--user", "alice:pw:fly"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("'fly' is not a list of actions", stderr, StringComparison.Ordinal);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static async Task<HttpStatusCode> StatusAsync(OspreyProcess server, string method, string path, AuthenticationHeaderValue? auth, string? origin = null)
    {
        if (method == "WS")
        {
            using var ws = new ClientWebSocket();
            ws.Options.CollectHttpResponseDetails = true;
            if (auth is not null)
            {
                ws.Options.SetRequestHeader("Authorization", auth.ToString());
            }

            if (origin is not null)
            {
                ws.Options.SetRequestHeader("Origin", origin);
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await ws.ConnectAsync(server.Ws(path), timeout.Token);
            }
            catch (WebSocketException)
            {
            }

            return ws.HttpStatusCode;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var request = new HttpRequestMessage(new HttpMethod(method), server.Http(path));
        request.Headers.Authorization = auth;
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (method == "POST")
        {
            request.Content = path.StartsWith("api/", StringComparison.Ordinal)
                ? new StringContent("""{"stream":"/stream/x","feeds":["cam"]}""", Encoding.UTF8, "application/json")
                : new ByteArrayContent(new byte[188 * 4]);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return response.StatusCode;
    }
}
