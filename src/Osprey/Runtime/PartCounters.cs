namespace Osprey.Runtime;

/// <summary>
/// A part of a feed (its source, one of its derived views) that counts what it does. One way for every source,
/// transform and output to show its counters, so that /api/feeds shows them all and nothing is dropped without
/// a counter someone can read.
/// </summary>
public interface ICounted
{
    /// <summary>The part's counters now.</summary>
    PartCounters ReadCounters();
}

/// <summary>One part's counters as <c>/api/feeds</c> shows them.</summary>
/// <param name="Part">What the part is: <c>v4l2</c>, <c>ffmpeg</c>, <c>jpegEncoder</c>, <c>h264Encoder</c>, <c>fmp4Muxer</c>, ...</param>
/// <param name="State">Its state in a word (<c>running</c>, <c>idle</c>), or null when it has none of its own.</param>
/// <param name="Detail">Why it is in that state (an encoder's last error), or null.</param>
/// <param name="Counters">Name → value, in the order the part gives them.</param>
public sealed record PartCounters(string Part, string? State, string? Detail, IReadOnlyDictionary<string, long> Counters);
