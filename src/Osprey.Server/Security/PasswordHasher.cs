using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Osprey.Server.Security;

/// <summary>
/// Passwords stored as PBKDF2-SHA256 (<c>pbkdf2-sha256$ITERATIONS$SALT$HASH</c>, base64), never in clear; a
/// configured password may be given already hashed in that form (<c>osprey hash-password</c> prints it).
/// </summary>
public static class PasswordHasher
{
    /// <summary>The prefix of a stored hash.</summary>
    public const string Prefix = "pbkdf2-sha256$";

    private const int Iterations = 100_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    /// <summary>Hashes <paramref name="password"/> with a new random salt.</summary>
    public static string Hash(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    /// <summary>True when <paramref name="stored"/> is a hash this class reads.</summary>
    public static bool IsHash(string stored) => TryParse(stored, out _, out _, out _);

    /// <summary>Checks <paramref name="password"/> against <paramref name="stored"/> in constant time.</summary>
    public static bool Verify(string password, string stored)
    {
        if (!TryParse(stored, out var iterations, out var salt, out var expected))
        {
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static bool TryParse(string stored, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        if (!stored.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = stored[Prefix.Length..].Split('$');
        try
        {
            if (parts.Length != 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations is < 1000 or > 10_000_000)
            {
                return false;
            }

            salt = Convert.FromBase64String(parts[1]);
            hash = Convert.FromBase64String(parts[2]);
            return salt.Length >= 8 && hash.Length >= 16;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
