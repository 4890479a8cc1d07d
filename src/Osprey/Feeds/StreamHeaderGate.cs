using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>
/// One consumer's record of which <see cref="StreamHeader"/> it has applied, so that the header (MPEG-TS
/// tables, an fMP4 init segment) goes before the first frame of every new header version and never twice.
/// Written once for every consumer of a byte-stream feed: viewers, destinations, the TS combiner.
/// </summary>
public struct StreamHeaderGate
{
    private bool _applied;
    private int _version;

    /// <summary>True when the header of <paramref name="frame"/>'s version is the one already applied.</summary>
    public readonly bool IsCurrent(Frame frame) => _applied && _version == frame.HeaderVersion;

    /// <summary>
    /// The header to apply before <paramref name="frame"/>: null when the applied one is current, or when there
    /// is none to apply.
    /// </summary>
    /// <param name="feed">The feed the frame came from.</param>
    /// <param name="frame">The frame about to be consumed.</param>
    /// <param name="anyVersion">
    /// True for self-describing streams (MPEG-TS): the feed's current header serves a frame of an older version
    /// too, and a feed without a header (jsmpeg's streams have none) plays without one. False when only the
    /// frame's own header version will do (fMP4: a fragment needs the init segment it was cut for); null then
    /// means that header is gone and the frame must wait for the next key frame.
    /// </param>
    public readonly StreamHeader? Pending(Feed feed, Frame frame, bool anyVersion)
    {
        ArgumentNullException.ThrowIfNull(feed);
        ArgumentNullException.ThrowIfNull(frame);
        if (IsCurrent(frame))
        {
            return null;
        }

        var header = feed.Header;
        return header is not null && (anyVersion || header.Version == frame.HeaderVersion) ? header : null;
    }

    /// <summary>Records that the header of <paramref name="frame"/>'s version is applied.</summary>
    public void MarkApplied(Frame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        _applied = true;
        _version = frame.HeaderVersion;
    }

    /// <summary>Forgets the applied header (a new connection must be sent it again).</summary>
    public void Reset() => _applied = false;
}
