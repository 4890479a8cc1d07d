using System.Collections.Concurrent;
using Microsoft.Extensions.Primitives;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>
/// The last snapshot of each feed and when it was taken, for <c>/snapshot/{feed}.jpg?max-age=s</c>: the dashboard's
/// thumbnails ask once a second, and all of them together cost one JPEG (one encode of a raw feed) a second per
/// feed. Holds at most <see cref="MaxFeeds"/> feeds (names come and go with publishers); past that it starts over.
/// </summary>
internal sealed class SnapshotCache(TimeProvider time)
{
    /// <summary>The most feeds remembered.</summary>
    public const int MaxFeeds = 256;

    /// <summary>The longest <c>max-age</c> honoured, in seconds.</summary>
    public const double MaxAgeLimitSeconds = 10;

    private readonly ConcurrentDictionary<string, (byte[] Jpeg, long Taken)> _last = new(StringComparer.Ordinal);

    /// <summary>The age a query's <c>max-age</c> allows (capped at <see cref="MaxAgeLimitSeconds"/>); null when absent, zero or not a number.</summary>
    public static TimeSpan? MaxAgeOf(StringValues value) =>
        double.TryParse(value.ToString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(Math.Min(seconds, MaxAgeLimitSeconds))
            : null;

    /// <summary>The feed's last snapshot if it is younger than <paramref name="maxAge"/>.</summary>
    public byte[]? TryGet(string feed, TimeSpan maxAge) =>
        _last.TryGetValue(feed, out var last) && time.GetElapsedTime(last.Taken) < maxAge ? last.Jpeg : null;

    /// <summary>Remembers <paramref name="jpeg"/> (a copy the cache owns) as the feed's last snapshot.</summary>
    public void Put(string feed, byte[] jpeg)
    {
        if (_last.Count >= MaxFeeds && !_last.ContainsKey(feed))
        {
            _last.Clear();
        }

        _last[feed] = (jpeg, time.GetTimestamp());
    }
}
