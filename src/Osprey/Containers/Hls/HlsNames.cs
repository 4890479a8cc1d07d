using System.Globalization;

namespace Osprey.Containers.Hls;

/// <summary>What a file name under a feed's HLS folder names.</summary>
public enum HlsResourceKind
{
    /// <summary>Not an HLS resource of Osprey's.</summary>
    None,

    /// <summary><c>index.m3u8</c>: the multivariant playlist.</summary>
    Multivariant,

    /// <summary><c>media.m3u8</c>: the low-latency media playlist (blocking reloads, parts, delta updates).</summary>
    MediaPlaylist,

    /// <summary><c>plain.m3u8</c>: the media playlist without low-latency tags, for players and caches that do not speak LL-HLS.</summary>
    PlainPlaylist,

    /// <summary><c>init-{stream}-{version}.mp4</c>: a CMAF init segment (EXT-X-MAP).</summary>
    Init,

    /// <summary><c>{msn}.m4s</c>: a whole segment.</summary>
    Segment,

    /// <summary><c>{msn}.{part}.m4s</c>: a partial segment.</summary>
    Part,
}

/// <summary>A parsed HLS file name: its kind and numbers.</summary>
/// <param name="Kind">What it names.</param>
/// <param name="Number">The media sequence number of a segment or part; the stream's first one for an init segment.</param>
/// <param name="Index">The part's index in its segment; the init segment's header version.</param>
public readonly record struct HlsResource(HlsResourceKind Kind, long Number = 0, int Index = 0);

/// <summary>
/// The URIs Osprey's playlists give (relative to the playlist, the same for every viewer: no token or session in
/// them, so that any HTTP cache shares them) and their parser.
/// </summary>
public static class HlsNames
{
    /// <summary>The multivariant playlist's file name.</summary>
    public const string Multivariant = "index.m3u8";

    /// <summary>The low-latency media playlist's file name.</summary>
    public const string Media = "media.m3u8";

    /// <summary>The plain media playlist's file name.</summary>
    public const string Plain = "plain.m3u8";

    private const int MaxNameLength = 64;

    /// <summary>The URI of segment <paramref name="msn"/>.</summary>
    public static string Segment(long msn) => msn.ToString(CultureInfo.InvariantCulture) + ".m4s";

    /// <summary>The URI of part <paramref name="index"/> of segment <paramref name="msn"/>.</summary>
    public static string Part(long msn, int index) => string.Create(CultureInfo.InvariantCulture, $"{msn}.{index}.m4s");

    /// <summary>The URI of the init segment of header <paramref name="version"/> of the stream that began at <paramref name="streamId"/>.</summary>
    public static string Init(long streamId, int version) => string.Create(CultureInfo.InvariantCulture, $"init-{streamId}-{version}.mp4");

    /// <summary>Parses a file name; <see cref="HlsResourceKind.None"/> for anything else (never throws).</summary>
    public static HlsResource Parse(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > MaxNameLength)
        {
            return default;
        }

        if (name.SequenceEqual(Multivariant))
        {
            return new(HlsResourceKind.Multivariant);
        }

        if (name.SequenceEqual(Media))
        {
            return new(HlsResourceKind.MediaPlaylist);
        }

        if (name.SequenceEqual(Plain))
        {
            return new(HlsResourceKind.PlainPlaylist);
        }

        if (name.StartsWith("init-") && name.EndsWith(".mp4"))
        {
            var body = name[5..^4];
            var dash = body.IndexOf('-');
            return dash > 0 && TryNumber(body[..dash], out var stream) && TryNumber(body[(dash + 1)..], out var version) && version <= int.MaxValue
                ? new(HlsResourceKind.Init, stream, (int)version)
                : default;
        }

        if (!name.EndsWith(".m4s"))
        {
            return default;
        }

        var stem = name[..^4];
        var dot = stem.IndexOf('.');
        if (dot < 0)
        {
            return TryNumber(stem, out var msn) ? new(HlsResourceKind.Segment, msn) : default;
        }

        return TryNumber(stem[..dot], out var partMsn) && TryNumber(stem[(dot + 1)..], out var index) && index <= int.MaxValue
            ? new(HlsResourceKind.Part, partMsn, (int)index)
            : default;
    }

    /// <summary>A decimal integer of 1 to 18 digits, no sign, no leading zero but for 0 itself (one spelling per number, so one cache entry).</summary>
    internal static bool TryNumber(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 18 || (text.Length > 1 && text[0] == '0'))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}

/// <summary>The delivery directives of a media playlist request (RFC 8216bis §6.2.5): <c>_HLS_msn</c>, <c>_HLS_part</c>, <c>_HLS_skip</c>.</summary>
/// <param name="Msn">The segment to wait for, or null for the playlist as it is.</param>
/// <param name="Part">The part of that segment to wait for, or null for the whole segment.</param>
/// <param name="Skip">True for a delta update (<c>_HLS_skip=YES</c> or <c>v2</c>).</param>
public readonly record struct HlsDirectives(long? Msn, int? Part, bool Skip)
{
    /// <summary>
    /// Reads the three query values (null when absent). False, with the reason, for a malformed number, a part
    /// without a segment, or a skip value other than YES and v2: the server answers 400.
    /// </summary>
    public static bool TryParse(string? msn, string? part, string? skip, out HlsDirectives directives, out string? error)
    {
        directives = default;
        error = null;
        long? m = null;
        int? p = null;
        if (msn is not null)
        {
            if (!HlsNames.TryNumber(msn, out var value))
            {
                error = "_HLS_msn must be a non-negative decimal integer.";
                return false;
            }

            m = value;
        }

        if (part is not null)
        {
            if (!HlsNames.TryNumber(part, out var value) || value > int.MaxValue)
            {
                error = "_HLS_part must be a non-negative decimal integer.";
                return false;
            }

            if (m is null)
            {
                error = "_HLS_part needs _HLS_msn.";
                return false;
            }

            p = (int)value;
        }

        var s = false;
        if (skip is not null)
        {
            if (skip is not ("YES" or "v2"))
            {
                error = "_HLS_skip must be YES or v2.";
                return false;
            }

            s = true;
        }

        directives = new HlsDirectives(m, p, s);
        return true;
    }
}
