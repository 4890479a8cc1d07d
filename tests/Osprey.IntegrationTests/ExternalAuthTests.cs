using System.Buffers.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>MediaMTX's external methods against the real server: JWTs checked with a JWKS, and an HTTP callback.</summary>
public class ExternalAuthTests
{
    private static readonly string[] s_feeds =
    [
        "--source", "cam=testpattern:?width=160&height=120&fps=15",
        "--source", "other=testpattern:?width=160&height=120&fps=15",
    ];

    [Fact]
    public async Task AViewerWithAReadTokenForCam_GetsFramesWithJwtInTheQuery_AndIsRefusedAnotherFeed()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await using var jwks = new LoopbackHttpServer((_, _) => (200, Jwks(key, "test-key")));
        await using var server = await OspreyProcess.StartAsync([.. s_feeds, "--jwt-jwks", new Uri(jwks.BaseUri, "jwks.json").ToString()]);
        var token = Sign(key, "test-key", """[{"action":"read","path":"cam"}]""");

        using (var viewer = new ClientWebSocket())
        {
            await viewer.ConnectAsync(server.Ws($"ws/cam/jpeg?jwt={token}"), CancellationToken.None);
            var buffer = new byte[256 * 1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            var frame = await viewer.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(WebSocketMessageType.Binary, frame.MessageType);
            Assert.True(frame.Count > 0);
        }

        Assert.Equal(HttpStatusCode.Forbidden, await UpgradeStatusAsync(server.Ws($"ws/other/jpeg?jwt={token}")));
        Assert.Equal(HttpStatusCode.Unauthorized, await UpgradeStatusAsync(server.Ws("ws/cam/jpeg")));
        Assert.Equal(HttpStatusCode.Unauthorized, await UpgradeStatusAsync(server.Ws($"ws/cam/jpeg?jwt={token[..^6]}")));

        // The same token as a bearer header; a token of another key is refused.
        using var client = new HttpClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        using var ask = new StringContent("""{"actions":"read","path":"cam"}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync(server.Http("api/auth/token"), ask)).StatusCode);
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Sign(stranger, "test-key", """[{"action":"read"}]"""));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        Assert.InRange(jwks.Requests, 1, 2);
    }

    [Fact]
    public async Task TheCallback_AllowsAliceToRead_GetsMediaMtxsFields_RefusesOthers_AndIsAskedOnceFor100Requests()
    {
        await using var callback = new LoopbackHttpServer((_, body) =>
        {
            using var request = JsonDocument.Parse(body);
            var root = request.RootElement;
            var alice = root.GetProperty("user").GetString() == "alice" && root.GetProperty("password").GetString() == "alice-pass";
            return (alice && root.GetProperty("action").GetString() == "read" ? 200 : 401, "");
        });
        await using var server = await OspreyProcess.StartAsync([.. s_feeds, "--auth-http", new Uri(callback.BaseUri, "auth").ToString()]);
        using var alice = new HttpClient();
        alice.DefaultRequestHeaders.Authorization = Basic("alice", "alice-pass");

        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(server.Http("api/feeds/cam?x=1"))).StatusCode);
        using (var first = JsonDocument.Parse(Assert.Single(callback.Bodies)))
        {
            var root = first.RootElement;
            Assert.Equal("alice", root.GetProperty("user").GetString());
            Assert.Equal("alice-pass", root.GetProperty("password").GetString());
            Assert.Equal("", root.GetProperty("token").GetString());
            Assert.Equal("127.0.0.1", root.GetProperty("ip").GetString());
            Assert.Equal("read", root.GetProperty("action").GetString());
            Assert.Equal("cam", root.GetProperty("path").GetString());
            Assert.Equal("http", root.GetProperty("protocol").GetString());
            Assert.Equal("x=1", root.GetProperty("query").GetString());
            Assert.False(string.IsNullOrEmpty(root.GetProperty("id").GetString()));
        }

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        }

        Assert.InRange(callback.Requests, 1, 3);

        // A viewer is asked about once, at its upgrade.
        using (var viewer = new ClientWebSocket())
        {
            viewer.Options.SetRequestHeader("Authorization", Basic("alice", "alice-pass").ToString());
            await viewer.ConnectAsync(server.Ws("ws/other/jpeg"), CancellationToken.None);
            var buffer = new byte[256 * 1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            Assert.Equal(WebSocketMessageType.Binary, (await viewer.ReceiveAsync(buffer, timeout.Token)).MessageType);
        }

        using (var upgrade = JsonDocument.Parse(callback.Bodies[^1]))
        {
            Assert.Equal("ws", upgrade.RootElement.GetProperty("protocol").GetString());
            Assert.Equal("other", upgrade.RootElement.GetProperty("path").GetString());
        }

        // Others, and alice for what the callback does not allow, are refused.
        using var bob = new HttpClient();
        bob.DefaultRequestHeaders.Authorization = Basic("bob", "bob-pass");
        Assert.Equal(HttpStatusCode.Unauthorized, (await bob.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        using var nobody = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await nobody.GetAsync(server.Http("api/feeds/cam"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await alice.PostAsync(server.Http("api/feeds/cam/restart"), null)).StatusCode);
        Assert.Contains("authentication callback refused", server.Output, StringComparison.Ordinal);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    internal static async Task<HttpStatusCode> UpgradeStatusAsync(Uri uri)
    {
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(uri, CancellationToken.None));
        return ws.HttpStatusCode;
    }

    internal static string Jwks(ECDsa key, string kid)
    {
        var p = key.ExportParameters(false);
        return new JsonObject
        {
            ["keys"] = new JsonArray(new JsonObject
            {
                ["kty"] = "EC",
                ["crv"] = "P-256",
                ["kid"] = kid,
                ["use"] = "sig",
                ["alg"] = "ES256",
                ["x"] = Base64Url.EncodeToString(p.Q.X),
                ["y"] = Base64Url.EncodeToString(p.Q.Y),
            }),
        }.ToJsonString();
    }

    /// <summary>An ES256 JWT, as an identity provider would issue it, with <paramref name="permissions"/> in Osprey's claim.</summary>
    internal static string Sign(ECDsa key, string kid, string permissions)
    {
        var header = $$"""{"alg":"ES256","typ":"JWT","kid":"{{kid}}"}""";
        var payload = $$"""{"sub":"viewer","exp":{{DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds()}},"osprey_permissions":{{permissions}}}""";
        var input = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header)) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload));
        var signature = key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return input + "." + Base64Url.EncodeToString(signature);
    }
}
