using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Osprey.Server.Security;

/// <summary>How a request identified itself.</summary>
public enum AuthOutcome
{
    /// <summary>No credentials: the anonymous principal.</summary>
    Anonymous,

    /// <summary>Credentials that were accepted.</summary>
    Authenticated,

    /// <summary>Credentials that were refused (wrong password, unknown or expired token).</summary>
    Refused,
}

/// <summary>Who decides (MediaMTX's <c>authMethod</c>): one method at a time.</summary>
public enum AuthMethod
{
    /// <summary>Osprey's own users and tokens (<c>--user</c>, <c>--token</c>), or the open default.</summary>
    Internal,

    /// <summary>An HTTP callback decides each request (<c>--auth-http</c>).</summary>
    Http,

    /// <summary>JSON Web Tokens with a permissions claim (<c>--jwt-jwks</c>, <c>--jwt-key</c>).</summary>
    Jwt,
}

/// <summary>The outcome of reading a request's credentials.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Principal">Who the request is (anonymous when refused).</param>
/// <param name="Detail">For the log when refused: which user or which kind of credential.</param>
public readonly record struct AuthResult(AuthOutcome Outcome, OspreyPrincipal Principal, string? Detail = null);

/// <summary>
/// Who may do what: users with hashed passwords, configured bearer tokens, Osprey's signed tokens, and what
/// anonymous clients may do. With no user and no token configured, MediaMTX's default: anyone may read and
/// publish, and api and metrics are allowed from loopback only, as an ordinary rule (a user named <c>any</c>
/// replaces it, and once any user or token exists, loopback clients authenticate like everyone else).
/// </summary>
/// <remarks>
/// Credentials are read from, in order: <c>Authorization: Basic</c> or <c>Bearer</c>, the <c>token</c> query
/// parameter, and the page's <see cref="SessionCookie"/>. A verified password is remembered (by its SHA-256) for a
/// few minutes, so that PBKDF2 runs once per client, not once per MJPEG request.
/// </remarks>
public sealed class AccessPolicy
{
    /// <summary>The name of the page's session cookie (a signed token).</summary>
    public const string SessionCookie = "osprey_session";

    /// <summary>The query parameter that carries a token where no header can.</summary>
    public const string TokenParameter = "token";

    /// <summary>MediaMTX's query parameter for a JWT, read besides <see cref="TokenParameter"/> by the JWT and HTTP methods.</summary>
    public const string JwtParameter = "jwt";

    /// <summary>The user name that stands for anyone (MediaMTX's <c>any</c>).</summary>
    public const string AnyUser = "any";

    /// <summary>The realm of RTSP's Digest challenge (part of every user's HA1).</summary>
    public const string DigestRealm = "Osprey";

    private const int VerifiedCacheLimit = 1024;
    private static readonly TimeSpan s_verifiedLifetime = TimeSpan.FromMinutes(5);

    private readonly Dictionary<string, (string PasswordHash, OspreyPrincipal Principal)> _users;
    private readonly Dictionary<string, OspreyPrincipal> _tokensBySha256;
    private readonly ConcurrentDictionary<string, long> _verified = new(StringComparer.Ordinal);
    private readonly HashSet<string> _localHosts;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, string> _digestHa1 = new(StringComparer.Ordinal);
    private long _refusals;

    private AccessPolicy(
        Dictionary<string, (string, OspreyPrincipal)> users,
        Dictionary<string, OspreyPrincipal> tokens,
        OspreyPrincipal anonymous,
        IEnumerable<string> localHosts,
        SignedTokens signer,
        TimeProvider time,
        JwtAuthenticator? jwt,
        HttpAuthCallback? callback)
    {
        Jwt = jwt;
        Callback = callback;
        Method = jwt is not null ? AuthMethod.Jwt : callback is not null ? AuthMethod.Http : AuthMethod.Internal;
        _users = users;
        _tokensBySha256 = tokens;
        Anonymous = anonymous;
        _localHosts = new HashSet<string>(localHosts, StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "::1", "[::1]" };
        Signer = signer;
        _time = time;
    }

    /// <summary>What clients without credentials may do.</summary>
    public OspreyPrincipal Anonymous { get; }

    /// <summary>
    /// The Digest HA1 (MD5 of <c>user:Osprey:password</c>) and principal of <paramref name="user"/>, for RTSP's
    /// Digest authentication; false for an unknown user, or one whose password was given as a hash.
    /// </summary>
    public bool TryGetDigest(string user, out string ha1, out OspreyPrincipal? principal)
    {
        principal = null;
        if (_digestHa1.TryGetValue(user, out var found) && _users.TryGetValue(user, out var account))
        {
            ha1 = found;
            principal = account.Principal;
            return true;
        }

        ha1 = "";
        return false;
    }

    /// <summary>Counts credentials refused outside the HTTP middleware (RTSP).</summary>
    public void CountRefusal() => Interlocked.Increment(ref _refusals);

    /// <summary>Signs and checks Osprey's own tokens.</summary>
    public SignedTokens Signer { get; }

    /// <summary>True when no user or token is configured (MediaMTX's open default).</summary>
    public bool IsOpen => Method == AuthMethod.Internal && _users.Count == 0 && _tokensBySha256.Count == 0;

    /// <summary>Who decides.</summary>
    public AuthMethod Method { get; }

    /// <summary>The JWT checker of <see cref="AuthMethod.Jwt"/>.</summary>
    public JwtAuthenticator? Jwt { get; }

    /// <summary>The callback of <see cref="AuthMethod.Http"/>.</summary>
    public HttpAuthCallback? Callback { get; }

    /// <summary>Credentials refused since start.</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    /// <summary>
    /// Builds the policy from <c>--user NAME:PASSWORD:ACTIONS[:PATHS]</c> and <c>--token TOKEN:ACTIONS[:PATHS]</c>
    /// specs (PASSWORD may be a <see cref="PasswordHasher"/> hash; the user <c>any</c> with an empty password is
    /// anyone). <paramref name="localHosts"/> are Host names besides localhost that mean this machine.
    /// </summary>
    /// <remarks>
    /// With <paramref name="jwt"/> or <paramref name="callback"/> (one at most), that method decides alone, as
    /// MediaMTX's <c>authMethod</c>: no user or token may be configured besides, and clients without credentials get
    /// nothing (the callback's excluded actions excepted, which get the open default's rule).
    /// </remarks>
    /// <exception cref="FormatException">A spec is malformed, or methods are mixed; the message says which and why.</exception>
    public static AccessPolicy Create(
        IEnumerable<string> userSpecs,
        IEnumerable<string> tokenSpecs,
        IEnumerable<string>? localHosts = null,
        SignedTokens? signer = null,
        TimeProvider? time = null,
        JwtAuthenticator? jwt = null,
        HttpAuthCallback? callback = null)
    {
        if (jwt is not null && callback is not null)
        {
            throw new FormatException("JWT (--jwt-*) and the HTTP callback (--auth-http) cannot be used together: one authentication method at a time.");
        }

        var users = new Dictionary<string, (string, OspreyPrincipal)>(StringComparer.Ordinal);
        var digests = new Dictionary<string, string>(StringComparer.Ordinal);
        OspreyPrincipal? any = null;
        foreach (var spec in userSpecs)
        {
            var (name, password, permission) = ParseUser(spec);
            if (name == AnyUser)
            {
                any = any is null ? new OspreyPrincipal(OspreyPrincipal.AnonymousName, [permission]) : any with { Permissions = [.. any.Permissions, permission] };
                continue;
            }

            if (users.TryGetValue(name, out var existing))
            {
                // A user given twice (several paths) gathers its permissions; the first password stands.
                users[name] = (existing.Item1, existing.Item2 with { Permissions = [.. existing.Item2.Permissions, permission] });
                continue;
            }

            users[name] = (PasswordHasher.IsHash(password) ? password : PasswordHasher.Hash(password), new OspreyPrincipal(name, [permission]));
            if (!PasswordHasher.IsHash(password))
            {
                // RTSP Digest needs MD5(user:realm:password); only a password given in clear can make it.
                digests[name] = Osprey.Protocols.Rtsp.RtspAuthorization.Ha1(name, DigestRealm, password);
            }
        }

        var tokens = new Dictionary<string, OspreyPrincipal>(StringComparer.Ordinal);
        foreach (var spec in tokenSpecs)
        {
            var fields = spec.Split(':');
            if (fields.Length is < 2 or > 3 || fields[0].Length < 16)
            {
                throw new FormatException($"--token '{Redact(spec)}': expected TOKEN:ACTIONS[:PATHS] with a token of at least 16 characters.");
            }

            var permission = ParsePermission(fields[1], fields.Length == 3 ? fields[2] : null, "--token");
            var key = Sha256Hex(fields[0]);
            tokens[key] = tokens.TryGetValue(key, out var same)
                ? same with { Permissions = [.. same.Permissions, permission] }
                : new OspreyPrincipal("token:" + key[..8], [permission]);
        }

        if ((jwt is not null || callback is not null) && (users.Count > 0 || tokens.Count > 0 || any is not null))
        {
            throw new FormatException($"--user and --token are the internal method; with {(jwt is not null ? "JWT (--jwt-*)" : "the HTTP callback (--auth-http)")} they cannot be given: one authentication method at a time.");
        }

        OspreyPrincipal anonymous;
        if (jwt is not null)
        {
            anonymous = new OspreyPrincipal(OspreyPrincipal.AnonymousName, []);
        }
        else if (callback is not null)
        {
            // Excluded actions are not asked about; they get what the open default gives them.
            var excluded = new List<Permission>();
            if ((callback.Excluded & (OspreyAction.Read | OspreyAction.Publish)) is var open and not OspreyAction.None)
            {
                excluded.Add(new Permission(open, PathGlob.All));
            }

            if ((callback.Excluded & (OspreyAction.Api | OspreyAction.Metrics)) is var local and not OspreyAction.None)
            {
                excluded.Add(new Permission(local, PathGlob.All, LoopbackOnly: true));
            }

            anonymous = new OspreyPrincipal(OspreyPrincipal.AnonymousName, excluded);
        }
        else if (users.Count == 0 && tokens.Count == 0 && any is null)
        {
            anonymous = new OspreyPrincipal(OspreyPrincipal.AnonymousName,
            [
                new Permission(OspreyAction.Read | OspreyAction.Publish, PathGlob.All),
                new Permission(OspreyAction.Api | OspreyAction.Metrics, PathGlob.All, LoopbackOnly: true),
            ]);
        }
        else
        {
            anonymous = any ?? new OspreyPrincipal(OspreyPrincipal.AnonymousName, []);
        }

        var policy = new AccessPolicy(users, tokens, anonymous, localHosts ?? [], signer ?? new SignedTokens(), time ?? TimeProvider.System, jwt, callback);
        foreach (var (name, ha1) in digests)
        {
            policy._digestHa1[name] = ha1;
        }

        return policy;
    }

    /// <summary>One line per rule, for the start-up log: who may do what.</summary>
    public IEnumerable<string> Describe()
    {
        yield return Anonymous.Permissions.Count == 0
            ? "anyone: nothing without credentials"
            : "anyone: " + string.Join("; ", Anonymous.Permissions);
        if (Jwt is { Options: var jwt })
        {
            yield return $"JWT (Bearer, ?jwt= or ?token=) signed by {(jwt.JwksUrl is { } url ? $"the keys of {url}" : "")}{(jwt.JwksUrl is not null && jwt.KeyPem is not null ? " or " : "")}{(jwt.KeyPem is not null ? "the --jwt-key" : "")}"
                + $"{(jwt.Issuer is { } iss ? $", issuer {iss}" : "")}{(jwt.Audience is { } aud ? $", audience {aud}" : "")}: what its '{jwt.Claim}' claim allows";
        }

        if (Callback is { } callback)
        {
            yield return $"HTTP callback {callback.Url} decides every request{(callback.Excluded != OspreyAction.None ? $" but {OspreyActions.Format(callback.Excluded)}" : "")}";
        }
        foreach (var (name, (_, principal)) in _users.OrderBy(u => u.Key, StringComparer.Ordinal))
        {
            yield return $"user {name}: {string.Join("; ", principal.Permissions)}";
        }

        foreach (var principal in _tokensBySha256.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            yield return $"{principal.Name}: {string.Join("; ", principal.Permissions)}";
        }
    }

    /// <summary>True when the client may be granted loopback-only permissions: a loopback address that names this machine.</summary>
    /// <remarks>
    /// The Host check stops DNS rebinding: a page on attacker.example that resolves to 127.0.0.1 reaches Osprey from
    /// loopback, but with <c>Host: attacker.example</c>.
    /// </remarks>
    public bool IsLocal(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null || !(IPAddress.IsLoopback(remote) || (remote.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(remote.MapToIPv4()))))
        {
            return false;
        }

        var host = context.Request.Host.Host;
        return host.Length == 0 || _localHosts.Contains(host) || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }

    /// <summary>
    /// Reads the request's credentials with the configured method. The HTTP callback needs the request's
    /// <paramref name="requirement"/> (its action and path): the answer is for that, and the principal returned
    /// allows exactly that. Without <paramref name="ambient"/>, as <see cref="Authenticate"/>.
    /// </summary>
    public ValueTask<AuthResult> AuthenticateAsync(HttpContext context, AccessRequirement? requirement, bool ambient = true) => Method switch
    {
        AuthMethod.Jwt => AuthenticateJwtAsync(context, ambient),
        AuthMethod.Http => AuthenticateCallbackAsync(context, requirement, ambient),
        _ => ValueTask.FromResult(Authenticate(context, ambient)),
    };

    /// <summary>
    /// Reads the request's credentials (the internal method). Without <paramref name="ambient"/> (a request from another site's page),
    /// only a <c>?token=</c> counts: a browser attaches its remembered Basic login and cookies by itself.
    /// </summary>
    public AuthResult Authenticate(HttpContext context, bool ambient = true)
    {
        var request = context.Request;
        var authorization = request.Headers.Authorization;
        if (ambient && !StringValues.IsNullOrEmpty(authorization))
        {
            var value = authorization.ToString();
            if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                return Basic(value[6..].Trim());
            }

            if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return Token(value[7..].Trim(), "bearer token");
            }

            return Refuse("an Authorization scheme other than Basic or Bearer");
        }

        if (request.Query.TryGetValue(TokenParameter, out var query) && query.Count > 0 && !string.IsNullOrEmpty(query[0]))
        {
            return Token(query[0]!, "token parameter");
        }

        if (ambient && request.Cookies.TryGetValue(SessionCookie, out var cookie) && !string.IsNullOrEmpty(cookie))
        {
            return Token(cookie, "session cookie");
        }

        return new AuthResult(AuthOutcome.Anonymous, Anonymous);
    }

    /// <summary>Checks a user's password (the page's login); null when refused.</summary>
    public OspreyPrincipal? CheckPassword(string user, string password)
    {
        if (!_users.TryGetValue(user, out var account))
        {
            // Hash anyway so that an unknown user costs what a wrong password costs.
            PasswordHasher.Verify(password, s_dummyHash);
            return null;
        }

        var key = user + "\n" + Sha256Hex(password);
        var now = _time.GetTimestamp();
        if (_verified.TryGetValue(key, out var at) && _time.GetElapsedTime(at, now) < s_verifiedLifetime)
        {
            return account.Principal;
        }

        if (!PasswordHasher.Verify(password, account.PasswordHash))
        {
            return null;
        }

        if (_verified.Count >= VerifiedCacheLimit)
        {
            _verified.Clear();
        }

        _verified[key] = now;
        return account.Principal;
    }

    /// <summary>The principal a signed token names: a user, or a configured token by its short name.</summary>
    public OspreyPrincipal? FindPrincipal(string name)
    {
        if (_users.TryGetValue(name, out var account))
        {
            return account.Principal;
        }

        if (name == OspreyPrincipal.AnonymousName)
        {
            return Anonymous;
        }

        foreach (var principal in _tokensBySha256.Values)
        {
            if (principal.Name == name)
            {
                return principal;
            }
        }

        return null;
    }

    private async ValueTask<AuthResult> AuthenticateJwtAsync(HttpContext context, bool ambient)
    {
        var (_, _, token, where) = ReadCredentials(context, ambient);
        if (token is null)
        {
            return new AuthResult(AuthOutcome.Anonymous, Anonymous);
        }

        var result = await Jwt!.ValidateAsync(token, context.RequestAborted).ConfigureAwait(false);
        return result.Principal is { } principal
            ? new AuthResult(AuthOutcome.Authenticated, principal)
            : Refuse($"{result.Refusal} ({where})");
    }

    private async ValueTask<AuthResult> AuthenticateCallbackAsync(HttpContext context, AccessRequirement? requirement, bool ambient)
    {
        var (user, password, token, _) = ReadCredentials(context, ambient);
        var presented = user is not null || token is not null;
        if (requirement is not { } needed || (needed.Action & ~Callback!.Excluded) == OspreyAction.None)
        {
            // A public route, or only excluded actions: nothing to ask; the anonymous rule decides.
            return new AuthResult(AuthOutcome.Anonymous, Anonymous);
        }

        var allowed = OspreyAction.None;
        var request = context.Request;
        foreach (var action in s_actions)
        {
            if ((needed.Action & action) == 0 || (Callback.Excluded & action) != 0)
            {
                continue;
            }

            var answer = await Callback.AskAsync(new AuthCallbackRequest(
                user ?? "",
                password ?? "",
                token ?? "",
                context.Connection.RemoteIpAddress?.ToString() ?? "",
                OspreyActions.Format(action),
                needed.Path?.Trim('/') ?? "",
                context.WebSockets.IsWebSocketRequest ? "ws" : "http",
                context.TraceIdentifier,
                request.QueryString.HasValue ? request.QueryString.Value![1..] : ""), context.RequestAborted).ConfigureAwait(false);
            if (answer is null)
            {
                return Refuse($"the authentication callback gave no answer for {OspreyActions.Format(action)}");
            }

            if (answer == false)
            {
                // No credentials and a refusal is a request for credentials (MediaMTX sends empty ones first).
                return presented
                    ? Refuse($"credentials the authentication callback refused for {OspreyActions.Format(action)}{(needed.Path is { } p ? $" on '{Printable(p)}'" : "")}")
                    : new AuthResult(AuthOutcome.Anonymous, Anonymous);
            }

            allowed |= action;
        }

        // Exactly what was asked: an answer for one path must not open others (the feed list filters by it).
        var name = user is { Length: > 0 } ? Printable(user) : token is not null ? "token" : OspreyPrincipal.AnonymousName;
        var granted = new Permission(allowed, needed.Path is { } path ? PathGlob.Exact(path) : PathGlob.All);
        return new AuthResult(presented ? AuthOutcome.Authenticated : AuthOutcome.Anonymous, new OspreyPrincipal(name, [granted, .. Anonymous.Permissions]));
    }

    /// <summary>The Basic user and password, or a token and where it came from, as the external methods read them.</summary>
    private static (string? User, string? Password, string? Token, string Where) ReadCredentials(HttpContext context, bool ambient)
    {
        var request = context.Request;
        var authorization = request.Headers.Authorization;
        if (ambient && !StringValues.IsNullOrEmpty(authorization))
        {
            var value = authorization.ToString();
            if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return (null, null, value[7..].Trim(), "bearer token");
            }

            if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value[6..].Trim()));
                    var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                    if (colon >= 0)
                    {
                        return (decoded[..colon], decoded[(colon + 1)..], null, "Basic");
                    }
                }
                catch (FormatException)
                {
                }
            }
        }

        foreach (var name in s_queryTokens)
        {
            if (request.Query.TryGetValue(name, out var query) && query.Count > 0 && !string.IsNullOrEmpty(query[0]))
            {
                return (null, null, query[0], name + " parameter");
            }
        }

        return (null, null, null, "");
    }

    private static readonly OspreyAction[] s_actions = [OspreyAction.Read, OspreyAction.Publish, OspreyAction.Api, OspreyAction.Metrics];
    private static readonly string[] s_queryTokens = [JwtParameter, TokenParameter];

    private static readonly string s_dummyHash = PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));

    private AuthResult Basic(string encoded)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            return Refuse("a malformed Basic header");
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return Refuse("a malformed Basic header");
        }

        var user = decoded[..colon];
        if (user == AnyUser && Anonymous.Permissions.Count > 0)
        {
            return new AuthResult(AuthOutcome.Anonymous, Anonymous);
        }

        return CheckPassword(user, decoded[(colon + 1)..]) is { } principal
            ? new AuthResult(AuthOutcome.Authenticated, principal)
            : Refuse($"user '{Printable(user)}' with a wrong password or unknown");
    }

    private AuthResult Token(string token, string where)
    {
        if (_tokensBySha256.TryGetValue(Sha256Hex(token), out var configured))
        {
            return new AuthResult(AuthOutcome.Authenticated, configured);
        }

        if (Signer.TryValidate(token, out var user, out var actions, out var paths, out _) && FindPrincipal(user) is { } owner)
        {
            return new AuthResult(AuthOutcome.Authenticated, owner.Narrow(actions, paths));
        }

        return Refuse($"an unknown or expired {where}");
    }

    private AuthResult Refuse(string detail)
    {
        Interlocked.Increment(ref _refusals);
        return new AuthResult(AuthOutcome.Refused, Anonymous, detail);
    }

    private static (string Name, string Password, Permission Permission) ParseUser(string spec)
    {
        var fields = spec.Split(':');
        if (fields.Length < 3)
        {
            throw new FormatException($"--user '{Redact(spec)}': expected NAME:PASSWORD:ACTIONS[:PATHS].");
        }

        var name = fields[0];
        if (name.Length is 0 or > 64 || name.Any(c => char.IsControl(c) || c is ' '))
        {
            throw new FormatException($"--user '{Redact(spec)}': '{Printable(name)}' is not a user name.");
        }

        // The password may hold ':'; ACTIONS (and PATHS, when the last field is not an action list) are at the end.
        string actions;
        string? paths;
        int passwordEnd;
        if (OspreyActions.TryParse(fields[^1], out _) || fields.Length == 3)
        {
            (actions, paths, passwordEnd) = (fields[^1], null, fields.Length - 1);
        }
        else
        {
            (actions, paths, passwordEnd) = (fields[^2], fields[^1], fields.Length - 2);
        }

        var password = string.Join(':', fields[1..passwordEnd]);
        if (password.Length == 0 && name != AnyUser)
        {
            throw new FormatException($"--user '{name}': a password is needed (only the user '{AnyUser}', anyone, has none).");
        }

        return (name, password, ParsePermission(actions, paths, $"--user '{name}'"));
    }

    private static Permission ParsePermission(string actions, string? paths, string what)
    {
        if (!OspreyActions.TryParse(actions, out var parsed))
        {
            throw new FormatException($"{what}: '{Printable(actions)}' is not a list of actions (read, publish, api, metrics, all).");
        }

        var glob = PathGlob.All;
        if (paths is not null && !PathGlob.TryParse(paths, out glob))
        {
            throw new FormatException($"{what}: '{Printable(paths)}' is not a path glob (e.g. cams/* or stream/**).");
        }

        return new Permission(parsed, glob);
    }

    private static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Redact(string spec)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? "…" : spec[..Math.Min(colon, 16)] + ":…";
    }

    private static string Printable(string text) =>
        new([.. text.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);
}
