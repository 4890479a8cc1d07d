using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Osprey.Server.Security;

namespace Osprey.Tests.Server.Security;

public class JwtAuthenticatorTests
{
    private static readonly Uri s_jwksUrl = new("http://jwks.test/keys");

    [Fact]
    public async Task ATokenSignedByAJwksKey_GrantsWhatItsClaimSays_OnItsGlob()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var result = await jwt.ValidateAsync(key.Sign([("read", "cams/*"), ("publish", "live")]));

        var principal = Assert.IsType<OspreyPrincipal>(result.Principal);
        Assert.Equal("jwt:viewer", principal.Name);
        Assert.True(principal.Allows(OspreyAction.Read, "cams/front", clientIsLocal: false));
        Assert.False(principal.Allows(OspreyAction.Read, "cams/front/raw", clientIsLocal: false));
        Assert.False(principal.Allows(OspreyAction.Read, "live", clientIsLocal: false));
        Assert.True(principal.Allows(OspreyAction.Publish, "live", clientIsLocal: false));
        Assert.False(principal.Allows(OspreyAction.Api, null, clientIsLocal: true));
    }

    [Fact]
    public async Task AnEmptyOrMissingPath_IsEveryPath_AndMediaMtxsClaimIsRead()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var missing = (await jwt.ValidateAsync(key.Sign([("read", null)]))).Principal!;
        var empty = (await jwt.ValidateAsync(key.Sign([("metrics", "")], claim: "mediamtx_permissions"))).Principal!;

        Assert.True(missing.Allows(OspreyAction.Read, "any/path/at/all", clientIsLocal: false));
        Assert.True(empty.Allows(OspreyAction.Metrics, "x", clientIsLocal: false));
    }

    [Fact]
    public async Task MediaMtxRegexPathsAndUnknownActions_GrantNothing()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var principal = (await jwt.ValidateAsync(key.Sign([("read", "~^cam.*$"), ("playback", "cam"), ("fly", null)]))).Principal!;

        Assert.Empty(principal.Permissions);
        Assert.False(principal.Allows(OspreyAction.Read, "cam", clientIsLocal: false));
    }

    [Fact]
    public async Task AConfiguredClaimName_IsTheOneRead()
    {
        using var key = TestJwt.Es256();
        using var jwt = new JwtAuthenticator(new JwtOptions { KeyPem = key.PublicPem(), Claim = "perms" });

        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", "cam")], claim: "perms"))).Principal);
        Assert.Null((await jwt.ValidateAsync(key.Sign([("read", "cam")], claim: "other"))).Principal);
    }

    [Fact]
    public async Task ATokenWithoutTheClaim_IsRefused()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var result = await jwt.ValidateAsync(key.Sign(permissions: null));

        Assert.Null(result.Principal);
        Assert.Contains("osprey_permissions", result.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredAndNotYetValidTokens_AreRefused_ButSmallSkewIsTolerated()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        Assert.Contains("expired", (await jwt.ValidateAsync(key.Sign([("read", null)], expiresIn: TimeSpan.FromMinutes(-2)))).Refusal, StringComparison.Ordinal);
        Assert.Contains("not yet valid", (await jwt.ValidateAsync(key.Sign([("read", null)], notBefore: TimeSpan.FromMinutes(2)))).Refusal, StringComparison.Ordinal);
        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", null)], expiresIn: TimeSpan.FromSeconds(-10)))).Principal);
        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", null)], notBefore: TimeSpan.FromSeconds(10)))).Principal);
    }

    [Fact]
    public async Task ATokenWithoutExpiry_IsRefused()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var result = await jwt.ValidateAsync(key.SignPayload("""{"sub":"x","osprey_permissions":[{"action":"read"}]}"""));

        Assert.Null(result.Principal);
    }

    [Fact]
    public async Task ATokenSignedByAnotherKey_OrAlteredAfterSigning_IsRefused()
    {
        using var key = TestJwt.Es256();
        using var stranger = TestJwt.Es256(); // the same kid, another key
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        Assert.Null((await jwt.ValidateAsync(stranger.Sign([("read", null)]))).Principal);

        var token = key.Sign([("read", "cam")]);
        var parts = token.Split('.');
        var widened = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1])).Replace("\"cam\"", "\"**\"", StringComparison.Ordinal)));
        Assert.Null((await jwt.ValidateAsync($"{parts[0]}.{widened}.{parts[2]}")).Principal);
    }

    [Fact]
    public async Task UnsignedAndHmacTokens_AreRefused()
    {
        using var key = TestJwt.Es256();
        using var jwt = new JwtAuthenticator(new JwtOptions { KeyPem = key.PublicPem() });
        static string B64(string s) => System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(s));
        var payload = B64($$"""{"exp":{{DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds()}},"osprey_permissions":[{"action":"read"}]}""");

        Assert.Null((await jwt.ValidateAsync($"{B64("""{"alg":"none"}""")}.{payload}.")).Principal);
        var hmacInput = $"{B64("""{"alg":"HS256"}""")}.{payload}";
        var mac = System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(key.PublicPem()), Encoding.ASCII.GetBytes(hmacInput));
        Assert.Null((await jwt.ValidateAsync($"{hmacInput}.{System.Buffers.Text.Base64Url.EncodeToString(mac)}")).Principal);
    }

    [Fact]
    public async Task IssuerAndAudience_AreCheckedWhenConfigured()
    {
        using var key = TestJwt.Rs256();
        using var jwt = new JwtAuthenticator(new JwtOptions { KeyPem = key.PublicPem(), Issuer = "https://idp.example", Audience = "osprey" });

        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", null)], issuer: "https://idp.example", audience: "osprey"))).Principal);
        Assert.Contains("issuer", (await jwt.ValidateAsync(key.Sign([("read", null)], issuer: "https://evil.example", audience: "osprey"))).Refusal, StringComparison.Ordinal);
        Assert.Contains("audience", (await jwt.ValidateAsync(key.Sign([("read", null)], issuer: "https://idp.example", audience: "other"))).Refusal, StringComparison.Ordinal);
        Assert.Null((await jwt.ValidateAsync(key.Sign([("read", null)]))).Principal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("..")]
    [InlineData("!!!.@@@.###")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.eyJ")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln")]
    [InlineData("bm90IGpzb24.eyJleHAiOjF9.c2ln")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.WzEsMiwzXQ.c2ln")]
    public async Task MalformedTokens_AreRefusedWithoutThrowing(string token)
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);

        var result = await jwt.ValidateAsync(token);

        Assert.Null(result.Principal);
        Assert.NotNull(result.Refusal);
    }

    [Fact]
    public async Task TruncatedCorruptedAndOversizedTokens_AreRefused()
    {
        using var key = TestJwt.Es256();
        using var jwt = Authenticator(TestJwt.Jwks(key), out _);
        var token = key.Sign([("read", null)]);

        for (var length = 0; length < token.Length; length += 7)
        {
            Assert.Null((await jwt.ValidateAsync(token[..length])).Principal);
        }

        var random = new Random(13);
        for (var i = 0; i < 50; i++)
        {
            var chars = token.ToCharArray();
            var at = random.Next(chars.Length);
            chars[at] = chars[at] == 'A' ? 'B' : 'A';
            var corrupted = new string(chars);
            if (corrupted != token)
            {
                Assert.Null((await jwt.ValidateAsync(corrupted)).Principal);
            }
        }

        var huge = key.Sign([.. Enumerable.Repeat(("read", (string?)"cam"), 2000)]);
        Assert.True(huge.Length > JwtAuthenticator.MaxTokenLength);
        Assert.Contains("oversized", (await jwt.ValidateAsync(huge)).Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARotatedKey_IsFetchedOnItsUnknownKid()
    {
        using var first = TestJwt.Es256("k1");
        using var second = TestJwt.Es256("k2");
        var jwks = TestJwt.Jwks(first);
        var time = new ManualTime();
        var handler = new StubHandler(_ => StubHandler.Json(jwks));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler, time);

        Assert.NotNull((await jwt.ValidateAsync(first.Sign([("read", null)]))).Principal);
        Assert.Equal(1, handler.Requests);

        // The identity provider rotates: k2 is published, k1 withdrawn.
        jwks = TestJwt.Jwks(second);
        time.Now += JwksCache.MinRefreshInterval;
        Assert.NotNull((await jwt.ValidateAsync(second.Sign([("read", null)]))).Principal);
        Assert.Equal(2, handler.Requests);
        Assert.Null((await jwt.ValidateAsync(first.Sign([("read", null)]))).Principal);
    }

    [Fact]
    public async Task AFloodOfUnknownKids_FetchesAtMostOncePerInterval()
    {
        using var key = TestJwt.Es256("k1");
        var time = new ManualTime();
        var handler = new StubHandler(_ => StubHandler.Json(TestJwt.Jwks(key)));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler, time);
        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", null)]))).Principal);

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => jwt.ValidateAsync(key.Sign([("read", null)], kid: "random-" + i)).AsTask()));
        time.Now += JwksCache.MinRefreshInterval / 2;
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => jwt.ValidateAsync(key.Sign([("read", null)], kid: "more-" + i)).AsTask()));

        Assert.Equal(1, handler.Requests);
        time.Now += JwksCache.MinRefreshInterval;
        await jwt.ValidateAsync(key.Sign([("read", null)], kid: "later"));
        Assert.Equal(2, handler.Requests);
    }

    [Fact]
    public async Task KeysAreRefetched_WhenStale()
    {
        using var key = TestJwt.Es256("k1");
        var time = new ManualTime();
        var handler = new StubHandler(_ => StubHandler.Json(TestJwt.Jwks(key)));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler, time);

        await jwt.ValidateAsync(key.Sign([("read", null)]));
        time.Now += TimeSpan.FromMinutes(1);
        await jwt.ValidateAsync(key.Sign([("read", null)]));
        Assert.Equal(1, handler.Requests);
        time.Now += JwksCache.RefreshInterval;
        await jwt.ValidateAsync(key.Sign([("read", null)]));
        Assert.Equal(2, handler.Requests);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"keys\": 5}")]
    [InlineData("{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\": \"k1\", \"x\": \"!!\", \"y\": \"??\"}]}")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"keys\": [")]
    public async Task CorruptedJwksDocuments_RefuseTokensWithoutThrowing(string document)
    {
        using var key = TestJwt.Es256("k1");
        var handler = new StubHandler(_ => StubHandler.Json(document));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler);

        Assert.Null((await jwt.ValidateAsync(key.Sign([("read", null)]))).Principal);
    }

    [Fact]
    public async Task AnOversizedJwksDocument_IsNotRead()
    {
        using var key = TestJwt.Es256("k1");
        var padding = new string(' ', JwksCache.MaxDocumentBytes);
        var handler = new StubHandler(_ => StubHandler.Json(TestJwt.Jwks(key) + padding));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler);

        var result = await jwt.ValidateAsync(key.Sign([("read", null)]));

        Assert.Null(result.Principal);
        Assert.Contains("1 MiB", result.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AJwksThatFails_KeepsTheKeysAlreadyHad()
    {
        using var key = TestJwt.Es256("k1");
        var time = new ManualTime();
        var up = true;
        var handler = new StubHandler(_ => up ? StubHandler.Json(TestJwt.Jwks(key)) : new HttpResponseMessage(HttpStatusCode.InternalServerError));
        using var jwt = new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler, time);
        await jwt.ValidateAsync(key.Sign([("read", null)]));

        up = false;
        time.Now += JwksCache.RefreshInterval;

        Assert.NotNull((await jwt.ValidateAsync(key.Sign([("read", null)]))).Principal);
        Assert.Equal(2, handler.Requests);
        Assert.Equal("HTTP 500", jwt.Jwks!.LastError);
    }

    [Fact]
    public async Task ThePolicy_ReadsJwtsFromBearerAndBothQueryParameters_AndNothingElseGrants()
    {
        using var key = TestJwt.Es256();
        var policy = AccessPolicy.Create([], [], jwt: new JwtAuthenticator(new JwtOptions { KeyPem = key.PublicPem() }));
        var token = key.Sign([("read", "cam")]);

        Assert.Equal(AuthMethod.Jwt, policy.Method);
        Assert.False(policy.IsOpen);
        Assert.Equal(AuthOutcome.Authenticated, (await policy.AuthenticateAsync(Request(authorization: "Bearer " + token), null)).Outcome);
        Assert.Equal(AuthOutcome.Authenticated, (await policy.AuthenticateAsync(Request(query: "?jwt=" + token), null)).Outcome);
        Assert.Equal(AuthOutcome.Authenticated, (await policy.AuthenticateAsync(Request(query: "?token=" + token), null)).Outcome);
        Assert.Equal(AuthOutcome.Refused, (await policy.AuthenticateAsync(Request(query: "?jwt=" + token[..^4]), null)).Outcome);

        // No credentials: nothing, from loopback too (no open default with a JWT method).
        var anonymous = await policy.AuthenticateAsync(Request(), null);
        Assert.Equal(AuthOutcome.Anonymous, anonymous.Outcome);
        Assert.False(anonymous.Principal.Allows(OspreyAction.Read, "cam", clientIsLocal: true));
        Assert.False(anonymous.Principal.Allows(OspreyAction.Api, null, clientIsLocal: true));
    }

    [Fact]
    public void JwtAndUsers_OrJwtAndTheCallback_CannotBeMixed()
    {
        using var key = TestJwt.Es256();
        var jwt = new JwtAuthenticator(new JwtOptions { KeyPem = key.PublicPem() });
        using var callback = new HttpAuthCallback(new Uri("http://auth.test/"));

        Assert.Throws<FormatException>(() => AccessPolicy.Create(["alice:pw:read"], [], jwt: jwt));
        Assert.Throws<FormatException>(() => AccessPolicy.Create([], ["0123456789abcdef0123:read"], callback: callback));
        Assert.Throws<FormatException>(() => AccessPolicy.Create([], [], jwt: jwt, callback: callback));
        Assert.Throws<FormatException>(() => new JwtAuthenticator(new JwtOptions()));
        Assert.Throws<FormatException>(() => new JwtAuthenticator(new JwtOptions { KeyPem = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" }));
    }

    [Theory]
    [InlineData("a.b.c", true)]
    [InlineData("a.b", false)]
    [InlineData("a..c", false)]
    [InlineData(".b.c", false)]
    [InlineData("a.b.", false)]
    [InlineData("a.b.c.d", false)]
    public void AJwt_IsKnownByItsThreeParts(string token, bool isJwt) => Assert.Equal(isJwt, JwtAuthenticator.LooksLikeJwt(token));

    private static JwtAuthenticator Authenticator(string jwks, out StubHandler handler)
    {
        handler = new StubHandler(_ => StubHandler.Json(jwks));
        return new JwtAuthenticator(new JwtOptions { JwksUrl = s_jwksUrl }, handler);
    }

    internal static DefaultHttpContext Request(string? authorization = null, string? query = null, string remote = "192.0.2.7")
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Request.Host = new HostString("localhost", 8888);
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        if (query is not null)
        {
            context.Request.QueryString = new QueryString(query);
        }

        return context;
    }
}
