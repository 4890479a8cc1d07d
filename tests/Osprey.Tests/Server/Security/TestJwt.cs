using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Osprey.Tests.Server.Security;

/// <summary>Signs JWTs by hand (ES256, RS256), so that tests control every byte, and writes the JWKS for the keys.</summary>
internal sealed class TestJwt : IDisposable
{
    private readonly ECDsa? _ec;
    private readonly RSA? _rsa;

    private TestJwt(string kid, ECDsa? ec, RSA? rsa)
    {
        Kid = kid;
        _ec = ec;
        _rsa = rsa;
    }

    public string Kid { get; }

    public static TestJwt Es256(string kid = "k1") => new(kid, ECDsa.Create(ECCurve.NamedCurves.nistP256), null);

    public static TestJwt Rs256(string kid = "r1") => new(kid, null, RSA.Create(2048));

    /// <summary>The public key as a JWK object.</summary>
    public JsonObject Jwk()
    {
        if (_ec is not null)
        {
            var p = _ec.ExportParameters(false);
            return new JsonObject { ["kty"] = "EC", ["crv"] = "P-256", ["kid"] = Kid, ["use"] = "sig", ["alg"] = "ES256", ["x"] = Base64Url.EncodeToString(p.Q.X), ["y"] = Base64Url.EncodeToString(p.Q.Y) };
        }

        var r = _rsa!.ExportParameters(false);
        return new JsonObject { ["kty"] = "RSA", ["kid"] = Kid, ["use"] = "sig", ["alg"] = "RS256", ["n"] = Base64Url.EncodeToString(r.Modulus), ["e"] = Base64Url.EncodeToString(r.Exponent) };
    }

    public string PublicPem() => _ec is not null ? _ec.ExportSubjectPublicKeyInfoPem() : _rsa!.ExportSubjectPublicKeyInfoPem();

    public static string Jwks(params TestJwt[] keys) => new JsonObject { ["keys"] = new JsonArray([.. keys.Select(k => (JsonNode)k.Jwk())]) }.ToJsonString();

    /// <summary>A token with <paramref name="permissions"/> (action, path; path null: none given) in <paramref name="claim"/>.</summary>
    public string Sign(
        (string Action, string? Path)[]? permissions = null,
        string claim = "osprey_permissions",
        TimeSpan? expiresIn = null,
        TimeSpan? notBefore = null,
        string? issuer = null,
        string? audience = null,
        string? kid = null,
        bool withKid = true,
        string subject = "viewer")
    {
        var now = DateTimeOffset.UtcNow;
        var payload = new JsonObject
        {
            ["sub"] = subject,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = now.Add(expiresIn ?? TimeSpan.FromMinutes(5)).ToUnixTimeSeconds(),
        };
        if (notBefore is { } nbf)
        {
            payload["nbf"] = now.Add(nbf).ToUnixTimeSeconds();
        }

        if (issuer is not null)
        {
            payload["iss"] = issuer;
        }

        if (audience is not null)
        {
            payload["aud"] = audience;
        }

        if (permissions is not null)
        {
            payload[claim] = new JsonArray([.. permissions.Select(p =>
            {
                var entry = new JsonObject { ["action"] = p.Action };
                if (p.Path is not null)
                {
                    entry["path"] = p.Path;
                }

                return (JsonNode)entry;
            })]);
        }

        return SignPayload(payload.ToJsonString(), kid ?? Kid, withKid);
    }

    public string SignPayload(string payloadJson, string? kid = null, bool withKid = true)
    {
        var header = new JsonObject { ["alg"] = _ec is not null ? "ES256" : "RS256", ["typ"] = "JWT" };
        if (withKid)
        {
            header["kid"] = kid ?? Kid;
        }

        var signingInput = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payloadJson));
        var data = Encoding.ASCII.GetBytes(signingInput);
        var signature = _ec is not null
            ? _ec.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            : _rsa!.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    public void Dispose()
    {
        _ec?.Dispose();
        _rsa?.Dispose();
    }
}

/// <summary>Answers HTTP requests from a function and counts them, in place of the network.</summary>
internal sealed class StubHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
{
    private int _requests;

    public int Requests => Volatile.Read(ref _requests);

    public List<string> Bodies { get; } = [];

    public static HttpResponseMessage Json(string json, HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        if (request.Content is not null)
        {
            var body = await request.Content.ReadAsStringAsync(cancellationToken);
            lock (Bodies)
            {
                Bodies.Add(body);
            }
        }

        return answer(request);
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualTime : TimeProvider
{
    public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => Now;
}
