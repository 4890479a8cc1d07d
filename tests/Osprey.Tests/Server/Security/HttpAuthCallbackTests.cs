using System.Net;
using System.Text.Json;
using Osprey.Server.Security;

namespace Osprey.Tests.Server.Security;

public class HttpAuthCallbackTests
{
    private static readonly Uri s_url = new("http://auth.test/check");

    [Fact]
    public async Task TheCallback_GetsMediaMtxsFields_AndA2xxAllowsExactlyThatActionAndPath()
    {
        var handler = AllowsAliceToRead();
        using var callback = new HttpAuthCallback(s_url, handler: handler);
        var policy = AccessPolicy.Create([], [], callback: callback);
        var request = JwtAuthenticatorTests.Request(authorization: Basic("alice", "pw"), query: "?x=1");

        var auth = await policy.AuthenticateAsync(request, new AccessRequirement(OspreyAction.Read, "cam"));

        Assert.Equal(AuthOutcome.Authenticated, auth.Outcome);
        Assert.True(auth.Principal.Allows(OspreyAction.Read, "cam", clientIsLocal: false));
        Assert.False(auth.Principal.Allows(OspreyAction.Read, "other", clientIsLocal: false));
        Assert.False(auth.Principal.Allows(OspreyAction.Publish, "cam", clientIsLocal: false));
        using var body = JsonDocument.Parse(Assert.Single(handler.Bodies));
        var root = body.RootElement;
        Assert.Equal("alice", root.GetProperty("user").GetString());
        Assert.Equal("pw", root.GetProperty("password").GetString());
        Assert.Equal("", root.GetProperty("token").GetString());
        Assert.Equal("192.0.2.7", root.GetProperty("ip").GetString());
        Assert.Equal("read", root.GetProperty("action").GetString());
        Assert.Equal("cam", root.GetProperty("path").GetString());
        Assert.Equal("http", root.GetProperty("protocol").GetString());
        Assert.Equal("x=1", root.GetProperty("query").GetString());
        Assert.True(root.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task ARefusal_WithCredentialsIsRefused_AndWithoutIsAChallenge()
    {
        using var callback = new HttpAuthCallback(s_url, handler: AllowsAliceToRead());
        var policy = AccessPolicy.Create([], [], callback: callback);
        var read = new AccessRequirement(OspreyAction.Read, "cam");

        Assert.Equal(AuthOutcome.Refused, (await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(authorization: Basic("bob", "pw")), read)).Outcome);
        Assert.Equal(AuthOutcome.Refused, (await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(query: "?token=abc"), read)).Outcome);
        var anonymous = await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(), read);
        Assert.Equal(AuthOutcome.Anonymous, anonymous.Outcome);
        Assert.False(anonymous.Principal.Allows(OspreyAction.Read, "cam", clientIsLocal: true));
    }

    [Fact]
    public async Task NoAnswer_IsARefusal_AndIsNotCached()
    {
        var handler = new StubHandler(_ => throw new HttpRequestException("connection refused"));
        using var callback = new HttpAuthCallback(s_url, handler: handler);
        var policy = AccessPolicy.Create([], [], callback: callback);
        var read = new AccessRequirement(OspreyAction.Read, "cam");

        Assert.Equal(AuthOutcome.Refused, (await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(authorization: Basic("alice", "pw")), read)).Outcome);
        Assert.Equal(AuthOutcome.Refused, (await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(authorization: Basic("alice", "pw")), read)).Outcome);
        Assert.Equal(2, handler.Requests);
    }

    [Fact]
    public async Task RepeatedCredentials_AreAnsweredFromTheCache_UntilItExpires()
    {
        var time = new ManualTime();
        var handler = AllowsAliceToRead();
        using var callback = new HttpAuthCallback(s_url, handler: handler, time: time);
        var request = Ask("alice", "pw", "read", "cam");

        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => callback.AskAsync(request)));
        Assert.Equal(1, handler.Requests);

        Assert.False(await callback.AskAsync(request with { Path = "other" }) ?? true);
        Assert.Equal(2, handler.Requests);

        time.Now += HttpAuthCallback.CacheLifetime;
        Assert.True(await callback.AskAsync(request));
        Assert.Equal(3, handler.Requests);
    }

    [Fact]
    public async Task AtMostEightCallbackRequests_RunAtOnce()
    {
        var running = 0;
        var most = 0;
        var release = new TaskCompletionSource();
        var handler = new AsyncHandler(async () =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await release.Task;
            Interlocked.Decrement(ref running);
            return new HttpResponseMessage(HttpStatusCode.NoContent);
        });
        using var callback = new HttpAuthCallback(s_url, handler: handler);

        var asks = Enumerable.Range(0, 40).Select(i => callback.AskAsync(Ask("user" + i, "pw", "read", "cam"))).ToArray();
        await Task.Delay(200);
        Assert.Equal(HttpAuthCallback.MaxConcurrent, Volatile.Read(ref running));
        release.SetResult();
        var answers = await Task.WhenAll(asks);

        Assert.All(answers, a => Assert.True(a));
        Assert.Equal(HttpAuthCallback.MaxConcurrent, most);
    }

    [Fact]
    public async Task ExcludedActions_AreNotAsked_AndGetTheOpenDefaultsRule()
    {
        var handler = AllowsAliceToRead();
        using var callback = new HttpAuthCallback(s_url, OspreyAction.Metrics | OspreyAction.Read, handler: handler);
        var policy = AccessPolicy.Create([], [], callback: callback);

        var metrics = await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(), new AccessRequirement(OspreyAction.Metrics, null));
        var read = await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(), new AccessRequirement(OspreyAction.Read, "cam"));

        Assert.Equal(0, handler.Requests);
        Assert.True(metrics.Principal.Allows(OspreyAction.Metrics, null, clientIsLocal: true));
        Assert.False(metrics.Principal.Allows(OspreyAction.Metrics, null, clientIsLocal: false));
        Assert.True(read.Principal.Allows(OspreyAction.Read, "cam", clientIsLocal: false));
    }

    [Fact]
    public async Task ACombinedRequirement_AsksForEachAction_AndNeedsBoth()
    {
        var handler = AllowsAliceToRead();
        using var callback = new HttpAuthCallback(s_url, handler: handler);
        var policy = AccessPolicy.Create([], [], callback: callback);

        var auth = await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(authorization: Basic("alice", "pw")), new AccessRequirement(OspreyAction.Read | OspreyAction.Publish, "lab"));

        Assert.Equal(AuthOutcome.Refused, auth.Outcome);
        Assert.Equal(2, handler.Requests);
    }

    [Fact]
    public async Task ALiteralStarInAPath_DoesNotWidenWhatTheCallbackAllowed()
    {
        using var callback = new HttpAuthCallback(s_url, handler: new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK)));
        var policy = AccessPolicy.Create([], [], callback: callback);

        var auth = await policy.AuthenticateAsync(JwtAuthenticatorTests.Request(authorization: Basic("alice", "pw")), new AccessRequirement(OspreyAction.Read, "cam*"));

        Assert.True(auth.Principal.Allows(OspreyAction.Read, "cam*", clientIsLocal: false));
        Assert.False(auth.Principal.Allows(OspreyAction.Read, "camera", clientIsLocal: false));
    }

    private static AuthCallbackRequest Ask(string user, string password, string action, string path) =>
        new(user, password, "", "192.0.2.7", action, path, "http", "1", "");

    private static StubHandler AllowsAliceToRead() => new(request =>
    {
        using var body = JsonDocument.Parse(request.Content!.ReadAsStringAsync().GetAwaiter().GetResult());
        var root = body.RootElement;
        var allowed = root.GetProperty("user").GetString() == "alice" && root.GetProperty("action").GetString() == "read" && root.GetProperty("path").GetString() != "other";
        return new HttpResponseMessage(allowed ? HttpStatusCode.OK : HttpStatusCode.Unauthorized);
    });

    private static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(user + ":" + password));

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private sealed class AsyncHandler(Func<Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => answer();
    }
}
