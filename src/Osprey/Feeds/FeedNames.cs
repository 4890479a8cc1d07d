namespace Osprey.Feeds;

/// <summary>What a feed name may be: letters, digits, '-', '_' and '.', with '/' between parts (vw allows nested names).</summary>
public static class FeedNames
{
    /// <summary>The rule, worded for error messages.</summary>
    public const string Rule = "must be 1-64 characters of letters, digits, '-', '_', '.', with '/' only between parts";

    /// <summary>True when <paramref name="name"/> is a usable feed name.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || name[0] == '/' || name[^1] == '/' || name.Contains("//", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/'))
            {
                return false;
            }
        }

        return name != "." && name != ".." && !name.Contains("/.", StringComparison.Ordinal);
    }
}
