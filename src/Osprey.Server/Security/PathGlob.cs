namespace Osprey.Server.Security;

/// <summary>
/// A pattern over feed, stream and topic paths (<c>cams/front</c>, <c>stream/front/large</c>): <c>*</c> matches
/// within one segment, <c>**</c> across segments; anything else matches itself. Leading and trailing slashes are
/// ignored, so <c>/in/x</c>'s path <c>x</c> and a topic <c>/lab/</c> compare as <c>x</c> and <c>lab</c>.
/// </summary>
public sealed class PathGlob
{
    /// <summary>Every path.</summary>
    public static PathGlob All { get; } = new("**");

    private readonly string _pattern;
    private readonly bool _literal;

    private PathGlob(string pattern, bool literal = false)
    {
        _pattern = pattern;
        _literal = literal;
    }

    /// <summary>The pattern as given (slashes trimmed).</summary>
    public string Pattern => _pattern;

    /// <summary>Parses a pattern; false when it is empty or has characters no path has.</summary>
    public static bool TryParse(string text, out PathGlob glob)
    {
        var trimmed = text.Trim().Trim('/');
        glob = All;
        if (trimmed.Length == 0 || trimmed.Length > 256 || trimmed.Any(c => char.IsControl(c) || c is ' ' or '?' or '#'))
        {
            return false;
        }

        glob = trimmed == "**" ? All : new PathGlob(trimmed);
        return true;
    }

    /// <summary>
    /// Exactly <paramref name="path"/>, its <c>*</c> not a wildcard: what an external decision (the HTTP callback)
    /// allowed, which must not widen to other paths.
    /// </summary>
    public static PathGlob Exact(string path) => new(path.Trim('/'), literal: true);

    /// <summary>True when <paramref name="path"/> matches.</summary>
    public bool Matches(string path)
    {
        if (ReferenceEquals(this, All))
        {
            return true;
        }

        if (_literal)
        {
            return path.AsSpan().Trim('/').SequenceEqual(_pattern);
        }

        return Match(_pattern.AsSpan(), path.AsSpan().Trim('/'));
    }

    /// <inheritdoc/>
    public override string ToString() => _pattern;

    private static bool Match(ReadOnlySpan<char> pattern, ReadOnlySpan<char> path)
    {
        // Backtracking over at most a few wildcards in a short pattern: patterns are operator-given and capped.
        while (pattern.Length > 0)
        {
            if (pattern.StartsWith("**"))
            {
                var rest = pattern[2..];
                for (var i = 0; i <= path.Length; i++)
                {
                    if (Match(rest, path[i..]))
                    {
                        return true;
                    }
                }

                return false;
            }

            if (pattern[0] == '*')
            {
                var rest = pattern[1..];
                for (var i = 0; i <= path.Length; i++)
                {
                    if (Match(rest, path[i..]))
                    {
                        return true;
                    }

                    if (i < path.Length && path[i] == '/')
                    {
                        return false;
                    }
                }

                return false;
            }

            if (path.Length == 0 || pattern[0] != path[0])
            {
                return false;
            }

            pattern = pattern[1..];
            path = path[1..];
        }

        return path.Length == 0;
    }
}
