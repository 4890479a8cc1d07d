using System.Buffers.Text;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Osprey.Server.Security;

/// <summary>What <c>--jwt-*</c> configure: where the keys are, what the token must say, where its permissions are.</summary>
public sealed record JwtOptions
{
    /// <summary>The default claim holding the permissions.</summary>
    public const string DefaultClaim = "osprey_permissions";

    /// <summary>MediaMTX's claim, read when the configured one is absent, so MediaMTX's tokens work unchanged.</summary>
    public const string MediaMtxClaim = "mediamtx_permissions";

    /// <summary>A JWKS document's URL (operator configuration, never client input).</summary>
    public Uri? JwksUrl { get; init; }

    /// <summary>A PEM public key (RSA or EC) to verify with, besides or instead of the JWKS.</summary>
    public string? KeyPem { get; init; }

    /// <summary>The <c>iss</c> a token must have; null: not checked.</summary>
    public string? Issuer { get; init; }

    /// <summary>An <c>aud</c> a token must have; null: not checked.</summary>
    public string? Audience { get; init; }

    /// <summary>The claim holding <c>[{"action": ..., "path": ...}]</c>.</summary>
    public string Claim { get; init; } = DefaultClaim;
}

/// <summary>The outcome of checking a JWT: a principal, or why it was refused (for the log, never for the client).</summary>
/// <param name="Principal">Who the token names and what its claim allows; null when refused.</param>
/// <param name="Refusal">Why it was refused.</param>
public readonly record struct JwtResult(OspreyPrincipal? Principal, string? Refusal);

/// <summary>
/// Checks JSON Web Tokens (MediaMTX's <c>authJWTJWKS</c>): the signature against the JWKS's keys or a static PEM
/// key, <c>exp</c>/<c>nbf</c> with 30 s of skew, <c>iss</c> and <c>aud</c> when configured, and reads the
/// permissions claim into an <see cref="OspreyPrincipal"/>.
/// </summary>
/// <remarks>
/// Tokens are client input and are bounded before any parsing (<see cref="MaxTokenLength"/>); the JWKS is operator
/// configuration, fetched with a bounded client (10 s, 1 MiB) by <see cref="JwksCache"/>, which also decides when a
/// token with an unknown <c>kid</c> may cause a fetch.
/// </remarks>
public sealed class JwtAuthenticator : IDisposable
{
    /// <summary>The longest token read; past it a token is refused unparsed.</summary>
    public const int MaxTokenLength = 16 * 1024;

    /// <summary>The most permission entries read from one claim.</summary>
    public const int MaxPermissions = 64;

    private static readonly TimeSpan s_clockSkew = TimeSpan.FromSeconds(30);

    // Asymmetric only: "none" and HMAC (a public key used as a shared secret) must never verify.
    private static readonly string[] s_algorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    private readonly JsonWebTokenHandler _handler = new() { MaximumTokenSizeInBytes = MaxTokenLength };
    private readonly IReadOnlyList<SecurityKey> _staticKeys;
    private readonly JwksCache? _jwks;

    /// <summary>Checks tokens as <paramref name="options"/> say; <paramref name="jwksHandler"/> replaces the network in tests.</summary>
    /// <exception cref="FormatException">Neither a JWKS URL nor a usable PEM key is given.</exception>
    public JwtAuthenticator(JwtOptions options, HttpMessageHandler? jwksHandler = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _staticKeys = options.KeyPem is { } pem ? [ReadPem(pem)] : [];
        if (options.JwksUrl is { } url)
        {
            _jwks = new JwksCache(url, jwksHandler, time);
        }
        else if (_staticKeys.Count == 0)
        {
            throw new FormatException("JWT authentication needs --jwt-jwks URL or --jwt-key FILE.");
        }
    }

    /// <summary>What was configured.</summary>
    public JwtOptions Options { get; }

    /// <summary>The JWKS cache, when a URL is configured.</summary>
    public JwksCache? Jwks => _jwks;

    /// <summary>True when <paramref name="token"/> has a JWT's form: three base64url parts separated by dots.</summary>
    public static bool LooksLikeJwt(string token)
    {
        var first = token.IndexOf('.', StringComparison.Ordinal);
        var last = token.LastIndexOf('.');
        return first > 0 && last > first + 1 && last < token.Length - 1 && token.AsSpan(first + 1, last - first - 1).IndexOf('.') < 0;
    }

    /// <summary>Checks <paramref name="token"/>; never throws for anything a client sends.</summary>
    public async ValueTask<JwtResult> ValidateAsync(string token, CancellationToken cancellation = default)
    {
        if (token.Length > MaxTokenLength || !LooksLikeJwt(token))
        {
            return new(null, "a malformed or oversized JWT");
        }

        JsonWebToken parsed;
        try
        {
            parsed = new JsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException or JsonException or FormatException)
        {
            return new(null, "a malformed JWT");
        }

        var keys = _staticKeys;
        if (_jwks is not null)
        {
            var set = await _jwks.GetKeysAsync(parsed.Kid, cancellation).ConfigureAwait(false);
            keys = _staticKeys.Count == 0 ? set : [.. _staticKeys, .. set];
        }

        if (keys.Count == 0)
        {
            return new(null, $"a JWT while the JWKS gave no key ({_jwks?.LastError ?? "empty"})");
        }

        var parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidAlgorithms = s_algorithms,
            ValidateIssuer = Options.Issuer is not null,
            ValidIssuer = Options.Issuer,
            ValidateAudience = Options.Audience is not null,
            ValidAudience = Options.Audience,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = s_clockSkew,
            TryAllIssuerSigningKeys = true,
        };
        TokenValidationResult result;
        try
        {
            result = await _handler.ValidateTokenAsync(parsed, parameters).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException or JsonException or FormatException or CryptographicException)
        {
            return new(null, "a JWT that could not be checked");
        }

        if (!result.IsValid)
        {
            return new(null, "a JWT refused: " + Reason(result.Exception));
        }

        var permissions = ReadPermissions(parsed);
        if (permissions is null)
        {
            return new(null, $"a JWT without a '{Options.Claim}' claim");
        }

        var subject = parsed.TryGetPayloadValue<string>("sub", out var sub) && sub is { Length: > 0 } ? sub : "";
        var name = "jwt" + (subject.Length > 0 ? ":" + new string([.. subject.Take(64).Select(c => char.IsControl(c) ? '?' : c)]) : "");
        return new(new OspreyPrincipal(name, permissions), null);
    }

    /// <inheritdoc/>
    public void Dispose() => _jwks?.Dispose();

    /// <summary>
    /// Reads the permission claim: <c>[{"action": "read", "path": "cams/*"}]</c>. A missing or empty path is every
    /// path; MediaMTX's regular expressions (<c>~...</c>) and unknown actions are skipped, so they grant nothing.
    /// </summary>
    private List<Permission>? ReadPermissions(JsonWebToken token)
    {
        byte[] payload;
        try
        {
            payload = Base64Url.DecodeFromChars(token.EncodedPayload);
        }
        catch (FormatException)
        {
            return null;
        }

        using var document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 16 });
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !(document.RootElement.TryGetProperty(Options.Claim, out var claim) || document.RootElement.TryGetProperty(JwtOptions.MediaMtxClaim, out claim))
            || claim.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var permissions = new List<Permission>();
        foreach (var entry in claim.EnumerateArray().Take(MaxPermissions))
        {
            if (entry.ValueKind != JsonValueKind.Object
                || !entry.TryGetProperty("action", out var actionValue) || actionValue.ValueKind != JsonValueKind.String
                || !OspreyActions.TryParse(actionValue.GetString()!, out var action))
            {
                continue;
            }

            var path = entry.TryGetProperty("path", out var pathValue) && pathValue.ValueKind == JsonValueKind.String ? pathValue.GetString()! : "";
            PathGlob glob;
            if (path.Length == 0)
            {
                glob = PathGlob.All;
            }
            else if (path.StartsWith('~') || !PathGlob.TryParse(path, out glob))
            {
                continue;
            }

            permissions.Add(new Permission(action, glob));
        }

        return permissions;
    }

    private static string Reason(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "expired",
        SecurityTokenNotYetValidException => "not yet valid",
        SecurityTokenNoExpirationException => "no expiry",
        SecurityTokenInvalidIssuerException => "wrong issuer",
        SecurityTokenInvalidAudienceException => "wrong audience",
        SecurityTokenSignatureKeyNotFoundException => "no key for its kid",
        SecurityTokenInvalidSignatureException => "bad signature",
        SecurityTokenInvalidAlgorithmException => "algorithm not allowed",
        _ => "invalid",
    };

    private static SecurityKey ReadPem(string pem)
    {
        // The kind of key is in the PEM itself; an EC key is tried first, then RSA.
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return new ECDsaSecurityKey(ec);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
        }

        try
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return new RsaSecurityKey(rsa);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw new FormatException("--jwt-key: the file is not a PEM RSA or EC public key.", ex);
        }
    }
}

/// <summary>
/// The keys of a JWKS URL, fetched with a bounded client and cached: refreshed when older than
/// <see cref="RefreshInterval"/>, and early for a token whose <c>kid</c> is unknown, but then at most once per
/// <see cref="MinRefreshInterval"/>, so a flood of tokens with random kids costs one fetch, not one each.
/// </summary>
/// <remarks>One fetch runs at a time; callers during it wait for it. A failed fetch keeps the keys already had.</remarks>
public sealed class JwksCache : IDisposable
{
    /// <summary>The largest JWKS document read.</summary>
    public const int MaxDocumentBytes = 1024 * 1024;

    /// <summary>The most keys kept from one document.</summary>
    public const int MaxKeys = 64;

    /// <summary>How long keys are used before they are fetched again.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(5);

    /// <summary>The least time between two fetches (an unknown kid, or a retry after a failure).</summary>
    public static readonly TimeSpan MinRefreshInterval = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan s_fetchTimeout = TimeSpan.FromSeconds(10);

    private readonly Uri _url;
    private readonly HttpClient _client;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private IReadOnlyList<SecurityKey> _keys = [];
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _attemptedAt = DateTimeOffset.MinValue;
    private long _fetches;

    /// <summary>Fetches from <paramref name="url"/>; <paramref name="handler"/> replaces the network in tests.</summary>
    public JwksCache(Uri url, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        _url = url;
        _time = time ?? TimeProvider.System;
        _client = new HttpClient(handler ?? new SocketsHttpHandler
        {
            ConnectTimeout = s_fetchTimeout,
            MaxAutomaticRedirections = 3,
            MaxResponseHeadersLength = 64, // KiB
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        })
        {
            Timeout = s_fetchTimeout,
            MaxResponseContentBufferSize = MaxDocumentBytes,
        };
    }

    /// <summary>Fetches made (successful or not), for tests and the log.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Why the last fetch failed; null after a success.</summary>
    public string? LastError { get; private set; }

    /// <summary>The keys to check a token with <paramref name="kid"/> against, fetching if they are stale or lack it.</summary>
    public async ValueTask<IReadOnlyList<SecurityKey>> GetKeysAsync(string? kid, CancellationToken cancellation = default)
    {
        var keys = Volatile.Read(ref _keys);
        if (!NeedsFetch(keys, kid))
        {
            return keys;
        }

        await _fetching.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            // Another caller may have fetched while this one waited.
            keys = _keys;
            if (NeedsFetch(keys, kid))
            {
                await FetchAsync(cancellation).ConfigureAwait(false);
            }

            return _keys;
        }
        finally
        {
            _fetching.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _client.Dispose();
        _fetching.Dispose();
    }

    /// <summary>Parses a JWKS document into its signing keys (RSA and EC); throws <see cref="FormatException"/> when it is not one.</summary>
    public static IReadOnlyList<SecurityKey> Parse(string json)
    {
        JsonWebKeySet set;
        try
        {
            set = new JsonWebKeySet(json);
        }
        catch (Exception ex) when (ex is ArgumentException or JsonException or FormatException or InvalidOperationException)
        {
            throw new FormatException("The JWKS is not a JSON Web Key Set.", ex);
        }

        var keys = new List<SecurityKey>();
        foreach (var key in set.Keys.Take(MaxKeys))
        {
            if (key.Kty is JsonWebAlgorithmsKeyTypes.RSA or JsonWebAlgorithmsKeyTypes.EllipticCurve && key.Use is null or "sig")
            {
                keys.Add(key);
            }
        }

        return keys;
    }

    private bool NeedsFetch(IReadOnlyList<SecurityKey> keys, string? kid)
    {
        var now = _time.GetUtcNow();
        if (now - _attemptedAt < MinRefreshInterval)
        {
            return false;
        }

        return now - _fetchedAt >= RefreshInterval
            || (kid is not null && !keys.Any(k => string.Equals(k.KeyId, kid, StringComparison.Ordinal)));
    }

    private async Task FetchAsync(CancellationToken cancellation)
    {
        _attemptedAt = _time.GetUtcNow();
        Interlocked.Increment(ref _fetches);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(s_fetchTimeout);
            using var request = new HttpRequestMessage(HttpMethod.Get, _url);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                LastError = $"HTTP {(int)response.StatusCode}";
                return;
            }

            if (response.Content.Headers.ContentLength > MaxDocumentBytes)
            {
                LastError = "the document is larger than 1 MiB";
                return;
            }

            var json = await ReadBoundedAsync(response.Content, timeout.Token).ConfigureAwait(false);
            if (json is null)
            {
                LastError = "the document is larger than 1 MiB";
                return;
            }

            var keys = Parse(json);
            Volatile.Write(ref _keys, keys);
            _fetchedAt = _time.GetUtcNow();
            LastError = null;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or FormatException or IOException)
        {
            // The keys already had stay in use; the next attempt waits MinRefreshInterval.
            LastError = ex is OperationCanceledException ? "timed out" : ex.Message;
        }
    }

    private static async Task<string?> ReadBoundedAsync(HttpContent content, CancellationToken cancellation)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
        var buffer = new byte[MaxDocumentBytes + 1];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellation).ConfigureAwait(false)) > 0)
        {
            total += read;
        }

        return total > MaxDocumentBytes ? null : System.Text.Encoding.UTF8.GetString(buffer, 0, total);
    }
}
