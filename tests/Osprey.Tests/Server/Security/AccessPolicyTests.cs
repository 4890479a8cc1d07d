using Microsoft.AspNetCore.Http;
using Osprey.Server.Security;

namespace Osprey.Tests.Server.Security;

public class AccessPolicyTests
{
    [Theory]
    [InlineData("**", "anything/at/all", true)]
    [InlineData("cams/*", "cams/front", true)]
    [InlineData("cams/*", "cams/front/raw", false)]
    [InlineData("cams/**", "cams/front/large", true)]
    [InlineData("cam", "cam", true)]
    [InlineData("cam", "camera", false)]
    [InlineData("/lab/", "lab", true)]
    [InlineData("stream/*/large", "stream/front/large", true)]
    [InlineData("stream/*/large", "stream/front/small", false)]
    public void PathGlobs_MatchWithinAndAcrossSegments(string pattern, string path, bool matches)
    {
        Assert.True(PathGlob.TryParse(pattern, out var glob));
        Assert.Equal(matches, glob.Matches(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("x?y")]
    public void PathGlobs_RefuseWhatNoPathHolds(string pattern) => Assert.False(PathGlob.TryParse(pattern, out _));

    [Fact]
    public void Actions_ParseAndPrint_AndRefuseUnknownOnes()
    {
        Assert.True(OspreyActions.TryParse("read, publish", out var actions));
        Assert.Equal(OspreyAction.Read | OspreyAction.Publish, actions);
        Assert.Equal("read,publish,api,metrics", OspreyActions.Format(OspreyActions.TryParse("all", out var all) ? all : 0));
        Assert.False(OspreyActions.TryParse("read,fly", out _));
        Assert.False(OspreyActions.TryParse("", out _));
    }

    [Fact]
    public void Passwords_AreStoredHashed_AndVerifiedInConstantTimeAgainstTheirHashOnly()
    {
        var hash = PasswordHasher.Hash("correct horse");
        Assert.StartsWith(PasswordHasher.Prefix, hash, StringComparison.Ordinal);
        Assert.DoesNotContain("correct horse", hash, StringComparison.Ordinal);
        Assert.NotEqual(hash, PasswordHasher.Hash("correct horse")); // salted
        Assert.True(PasswordHasher.Verify("correct horse", hash));
        Assert.False(PasswordHasher.Verify("correct horsE", hash));
        Assert.False(PasswordHasher.Verify("x", "pbkdf2-sha256$12$notbase64$"));
        Assert.False(PasswordHasher.Verify("x", "plain"));
    }

    [Fact]
    public void SignedTokens_CarryTheirScope_ExpireAndRefuseAnyChangedByte()
    {
        var time = new ManualTimeProvider();
        var tokens = new SignedTokens(time: time);
        Assert.True(PathGlob.TryParse("cams/*", out var glob));
        var token = tokens.Issue("alice", OspreyAction.Read, glob, TimeSpan.FromMinutes(1));

        Assert.True(tokens.TryValidate(token, out var user, out var actions, out var paths, out _));
        Assert.Equal(("alice", OspreyAction.Read, "cams/*"), (user, actions, paths.Pattern));
        for (var i = 0; i < token.Length; i += 7)
        {
            var changed = token.ToCharArray();
            changed[i] = changed[i] == 'A' ? 'B' : 'A';
            Assert.False(tokens.TryValidate(new string(changed), out _, out _, out _, out _), $"a change at {i} was accepted");
        }

        Assert.False(new SignedTokens().TryValidate(token, out _, out _, out _, out _)); // another key
        Assert.False(tokens.TryValidate(token[..^1], out _, out _, out _, out _));
        Assert.False(tokens.TryValidate("", out _, out _, out _, out _));
        Assert.False(tokens.TryValidate(new string('a', 5000) + "." + "b", out _, out _, out _, out _));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(tokens.TryValidate(token, out _, out _, out _, out _));
    }

    [Fact]
    public void WithNoUsers_AnyoneReadsAndPublishes_AndApiIsLoopbackOnly_AsAnOrdinaryRule()
    {
        var policy = AccessPolicy.Create([], []);
        Assert.True(policy.IsOpen);
        var anyone = policy.Authenticate(Request()).Principal;
        Assert.True(anyone.Allows(OspreyAction.Read, "cam", clientIsLocal: false));
        Assert.True(anyone.Allows(OspreyAction.Publish, "cam", clientIsLocal: false));
        Assert.False(anyone.Allows(OspreyAction.Api, null, clientIsLocal: false));
        Assert.True(anyone.Allows(OspreyAction.Api, null, clientIsLocal: true));
    }

    [Fact]
    public void OnceAUserExists_AnonymousMayDoNothing_UnlessTheUserAnyIsGivenSomething()
    {
        var closed = AccessPolicy.Create(["alice:pw:read"], []);
        Assert.False(closed.Authenticate(Request()).Principal.Allows(OspreyAction.Read, "cam", clientIsLocal: true));

        var readable = AccessPolicy.Create(["alice:pw:all", "any::read:public/*"], []);
        var anyone = readable.Authenticate(Request()).Principal;
        Assert.True(anyone.Allows(OspreyAction.Read, "public/cam", clientIsLocal: false));
        Assert.False(anyone.Allows(OspreyAction.Read, "private", clientIsLocal: false));
        Assert.False(anyone.Allows(OspreyAction.Api, null, clientIsLocal: true)); // no loopback bypass
    }

    [Fact]
    public void UserSpecs_AllowColonsInPasswords_OptionalPaths_AndPreHashedPasswords()
    {
        var hash = PasswordHasher.Hash("s3cret");
        var policy = AccessPolicy.Create(["alice:pa:ss:read", "bob:x:publish:live/*", $"carol:{hash}:api"], []);
        Assert.Equal(AuthOutcome.Authenticated, policy.Authenticate(Request(basic: "alice:pa:ss")).Outcome);
        var bob = policy.Authenticate(Request(basic: "bob:x")).Principal;
        Assert.True(bob.Allows(OspreyAction.Publish, "live/1", false));
        Assert.False(bob.Allows(OspreyAction.Publish, "other", false));
        Assert.Equal(AuthOutcome.Authenticated, policy.Authenticate(Request(basic: "carol:s3cret")).Outcome);
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(basic: "carol:" + hash)).Outcome); // the hash is no password
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(basic: "alice:wrong")).Outcome);
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(basic: "nobody:pw")).Outcome);
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(authorization: "Basic !!!")).Outcome);
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(authorization: "Digest x")).Outcome);
        Assert.Equal(5, policy.Refusals);
    }

    [Theory]
    [InlineData("alice:pw")]
    [InlineData("alice:pw:fly")]
    [InlineData("alice::read")]
    [InlineData(":pw:read")]
    [InlineData("alice:pw:read:a b")]
    public void MalformedUserSpecs_AreRefusedWithTheReason(string spec)
    {
        var error = Assert.Throws<FormatException>(() => AccessPolicy.Create([spec], []));
        Assert.DoesNotContain(":pw", error.Message, StringComparison.Ordinal); // the password is not echoed
    }

    [Fact]
    public void Tokens_AuthenticateByHeaderOrQuery_AndTooShortOnesAreRefusedAtStart()
    {
        const string Token = "0123456789abcdef-token";
        var policy = AccessPolicy.Create([], [$"{Token}:api"]);
        Assert.True(policy.Authenticate(Request(authorization: "Bearer " + Token)).Principal.Allows(OspreyAction.Api, null, false));
        Assert.True(policy.Authenticate(Request(query: "?token=" + Token)).Principal.Allows(OspreyAction.Api, null, false));
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(authorization: "Bearer nope")).Outcome);
        Assert.Throws<FormatException>(() => AccessPolicy.Create([], ["short:api"]));
    }

    [Fact]
    public void ASignedToken_GrantsAtMostWhatItsUserMayStillDo()
    {
        var policy = AccessPolicy.Create(["alice:pw:read:cams/*"], []);
        var token = policy.Signer.Issue("alice", OspreyAction.All, PathGlob.All, TimeSpan.FromMinutes(5));
        var principal = policy.Authenticate(Request(cookie: token)).Principal;
        Assert.True(principal.Allows(OspreyAction.Read, "cams/front", false));
        Assert.False(principal.Allows(OspreyAction.Publish, "cams/front", false));
        Assert.False(principal.Allows(OspreyAction.Read, "other", false));

        Assert.True(PathGlob.TryParse("cams/front", out var one));
        var narrow = policy.Authenticate(Request(query: "?token=" + policy.Signer.Issue("alice", OspreyAction.Read, one, TimeSpan.FromMinutes(5)))).Principal;
        Assert.True(narrow.Allows(OspreyAction.Read, "cams/front", false));
        Assert.False(narrow.Allows(OspreyAction.Read, "cams/back", false));
        Assert.Equal(AuthOutcome.Refused, policy.Authenticate(Request(cookie: policy.Signer.Issue("mallory", OspreyAction.All, PathGlob.All, TimeSpan.FromMinutes(5)))).Outcome);
    }

    [Theory]
    [InlineData("127.0.0.1", "localhost", true)]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("::1", "[::1]", true)]
    [InlineData("127.0.0.1", "attacker.example", false)]
    [InlineData("127.0.0.1", "camera.lan", true)]
    [InlineData("192.168.1.5", "localhost", false)]
    public void LocalClients_AreLoopbackAddressesNamingThisMachine(string remote, string host, bool local)
    {
        var policy = AccessPolicy.Create([], [], localHosts: ["camera.lan"]);
        var context = Request();
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Parse(remote);
        context.Request.Host = new HostString(host, 8888);
        Assert.Equal(local, policy.IsLocal(context));
    }

    [Fact]
    public void Origins_SameHostAndPortAreSameOrigin_OthersOnlyWhenAllowed()
    {
        var context = Request();
        context.Request.Host = new HostString("cam.lan", 8888);
        Assert.True(WebOrigins.IsSameOrigin("http://cam.lan:8888", context.Request));
        Assert.False(WebOrigins.IsSameOrigin("http://cam.lan:9999", context.Request));
        Assert.False(WebOrigins.IsSameOrigin("http://evil.example:8888", context.Request));
        Assert.False(WebOrigins.IsSameOrigin("null", context.Request));
        var origins = new WebOrigins(["https://dash.example"]);
        Assert.True(origins.IsAllowed("https://dash.example"));
        Assert.False(origins.IsAllowed("https://dash.example.evil"));
        Assert.True(new WebOrigins(["*"]).IsAllowed("https://any.example"));
        Assert.Throws<FormatException>(() => new WebOrigins(["dash.example"]));
        Assert.Throws<FormatException>(() => new WebOrigins(["https://dash.example/path"]));
    }

    private static DefaultHttpContext Request(string? basic = null, string? authorization = null, string? query = null, string? cookie = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        context.Request.Host = new HostString("localhost", 8888);
        if (basic is not null)
        {
            authorization = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(basic));
        }

        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        if (query is not null)
        {
            context.Request.QueryString = new QueryString(query);
        }

        if (cookie is not null)
        {
            context.Request.Headers.Cookie = $"{AccessPolicy.SessionCookie}={cookie}";
        }

        return context;
    }
}
