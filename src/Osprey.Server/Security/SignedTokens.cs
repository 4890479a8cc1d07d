using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.Server.Security;

/// <summary>
/// Short-lived tokens Osprey signs itself (HMAC-SHA256), for what browsers cannot give an Authorization header:
/// WebSockets, an <c>&lt;img&gt;</c>'s MJPEG, native HLS, the page's session cookie. Each names a user, is scoped
/// to actions and a path glob, and expires; it grants at most what the user may do when it is used.
/// </summary>
/// <remarks>
/// The form is <c>base64url(v1 LF user LF actions LF glob LF expiry)</c> <c>.</c> <c>base64url(mac)</c>. The key is
/// random per process unless configured, so tokens die with a restart unless the operator shares a key.
/// </remarks>
public sealed class SignedTokens
{
    /// <summary>The longest lifetime a token may ask for.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(7);

    private const int MaxTokenLength = 2048;
    private readonly Lazy<byte[]> _key;
    private readonly TimeProvider _time;

    /// <summary>Signs with <paramref name="key"/> (32 random bytes when null).</summary>
    /// <remarks>
    /// The random key is drawn when the first token is issued or checked, not at start-up: drawing it loads OpenSSL
    /// (3.4 MB of resident memory and a few milliseconds), which a server nobody logs in to never needs.
    /// </remarks>
    public SignedTokens(byte[]? key = null, TimeProvider? time = null)
    {
        _key = key is { Length: > 0 } ? new Lazy<byte[]>(key) : new Lazy<byte[]>(() => RandomNumberGenerator.GetBytes(32));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A token for <paramref name="user"/>, allowing <paramref name="actions"/> on <paramref name="paths"/> for <paramref name="lifetime"/>.</summary>
    public string Issue(string user, OspreyAction actions, PathGlob paths, TimeSpan lifetime)
    {
        if (lifetime <= TimeSpan.Zero || lifetime > MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"A token lives between 1 s and {MaxLifetime.TotalDays:0} days.");
        }

        var expiry = _time.GetUtcNow().Add(lifetime).ToUnixTimeSeconds();
        var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"v1\n{user}\n{(int)actions}\n{paths.Pattern}\n{expiry}"));
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(HMACSHA256.HashData(_key.Value, payload));
    }

    /// <summary>Reads a token this instance signed and that has not expired.</summary>
    public bool TryValidate(string token, out string user, out OspreyAction actions, out PathGlob paths, out DateTimeOffset expires)
    {
        user = "";
        actions = OspreyAction.None;
        paths = PathGlob.All;
        expires = default;
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (token.Length > MaxTokenLength || dot <= 0)
        {
            return false;
        }

        byte[] payload, mac;
        try
        {
            payload = Base64Url.DecodeFromChars(token.AsSpan(0, dot));
            mac = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
        }
        catch (FormatException)
        {
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(_key.Value, payload), mac))
        {
            return false;
        }

        var fields = Encoding.UTF8.GetString(payload).Split('\n');
        if (fields.Length != 5 || fields[0] != "v1"
            || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var mask)
            || !PathGlob.TryParse(fields[3], out paths)
            || !long.TryParse(fields[4], NumberStyles.None, CultureInfo.InvariantCulture, out var expiry))
        {
            return false;
        }

        expires = DateTimeOffset.FromUnixTimeSeconds(expiry);
        if (expires <= _time.GetUtcNow())
        {
            return false;
        }

        user = fields[1];
        actions = (OspreyAction)mask & OspreyAction.All;
        return true;
    }
}
