using System.Security.Cryptography;
using System.Text;

namespace Osprey.Protocols.Rtsp;

/// <summary>
/// An RTSP Authorization header: Basic (user and password) or Digest (RFC 7616 with MD5, what ffmpeg, VLC and
/// cameras send: RFC 2069 without qop, or qop=auth), and the Digest check.
/// </summary>
public sealed class RtspAuthorization
{
    private RtspAuthorization(string scheme, string user, string? password, IReadOnlyDictionary<string, string> parameters)
    {
        Scheme = scheme;
        User = user;
        Password = password;
        Parameters = parameters;
    }

    /// <summary><c>Basic</c> or <c>Digest</c>.</summary>
    public string Scheme { get; }

    /// <summary>The user name.</summary>
    public string User { get; }

    /// <summary>Basic's password; null for Digest.</summary>
    public string? Password { get; }

    /// <summary>Digest's parameters (lower-case names); empty for Basic.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>True for Digest.</summary>
    public bool IsDigest => Scheme == "Digest";

    /// <summary>Reads <paramref name="header"/>; null when it is neither a well-formed Basic nor Digest header.</summary>
    public static RtspAuthorization? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header) || header.Length > 4096)
        {
            return null;
        }

        header = header.Trim();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? null : new RtspAuthorization("Basic", decoded[..colon], decoded[(colon + 1)..], new Dictionary<string, string>());
            }
            catch (FormatException)
            {
                return null;
            }
        }

        if (!header.StartsWith("Digest ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = header[7..];
        var i = 0;
        while (i < text.Length && parameters.Count < 32)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            var eq = text.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var name = text[i..eq].Trim().ToLowerInvariant();
            i = eq + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var close = text.IndexOf('"', i + 1);
                if (close < 0)
                {
                    return null;
                }

                value = text[(i + 1)..close];
                i = close + 1;
            }
            else
            {
                var comma = text.IndexOf(',', i);
                value = (comma < 0 ? text[i..] : text[i..comma]).Trim();
                i = comma < 0 ? text.Length : comma;
            }

            parameters[name] = value;
        }

        return parameters.TryGetValue("username", out var user) && parameters.ContainsKey("response") && parameters.ContainsKey("nonce")
            ? new RtspAuthorization("Digest", user, null, parameters)
            : null;
    }

    /// <summary>MD5(user:realm:password), Digest's HA1, in lower-case hex.</summary>
    public static string Ha1(string user, string realm, string password) => Md5Hex($"{user}:{realm}:{password}");

    /// <summary>
    /// True when this Digest response is right for <paramref name="method"/>, the user's <paramref name="ha1"/>
    /// and <paramref name="nonce"/> (the one the server gave; compared in constant time).
    /// </summary>
    public bool VerifyDigest(string method, string ha1, string nonce)
    {
        ArgumentNullException.ThrowIfNull(ha1);
        if (!IsDigest || !Parameters.TryGetValue("nonce", out var sent) || !FixedEquals(sent, nonce)
            || !Parameters.TryGetValue("uri", out var uri) || !Parameters.TryGetValue("response", out var response))
        {
            return false;
        }

        if (Parameters.TryGetValue("algorithm", out var algorithm) && !algorithm.Equals("MD5", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var ha2 = Md5Hex($"{method}:{uri}");
        string expected;
        if (Parameters.TryGetValue("qop", out var qop) && qop.Length > 0)
        {
            if (qop != "auth" || !Parameters.TryGetValue("nc", out var nc) || !Parameters.TryGetValue("cnonce", out var cnonce))
            {
                return false;
            }

            expected = Md5Hex($"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}");
        }
        else
        {
            expected = Md5Hex($"{ha1}:{nonce}:{ha2}");
        }

        return FixedEquals(expected, response.ToLowerInvariant());
    }

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "RTSP Digest is MD5 (RFC 7616's default; what ffmpeg and cameras implement).")]
    private static string Md5Hex(string text) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(text)));
}
