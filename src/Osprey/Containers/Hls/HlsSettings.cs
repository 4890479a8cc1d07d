namespace Osprey.Containers.Hls;

/// <summary>How an <see cref="HlsSegmenter"/> cuts a stream and how much of it it keeps.</summary>
public sealed record HlsSettings
{
    /// <summary>The media timescale of the durations given to <see cref="HlsSegmenter.Add"/> (fMP4's 90 kHz).</summary>
    public uint Timescale { get; init; } = 90000;

    /// <summary>
    /// The parts' nominal duration: a part closes as soon as the next frame (judged from the last) would take it
    /// past this. EXT-X-PART-INF's PART-TARGET is <see cref="AdvertisedPartTarget"/>, 10 % more, so that capture
    /// clock jitter never makes a part longer than the target (RFC 8216bis: MUST NOT) nor, for lack of room, a
    /// frame shorter than the 85 % it asks for: at 30 fps and 200 ms, parts are six frames, 200 ms ± jitter.
    /// </summary>
    public TimeSpan PartTarget { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>PART-TARGET as the playlists say it: <see cref="PartTarget"/> plus 10 %, in whole milliseconds; no part is longer (a frame that would make it longer starts the next part). Never changes while a stream runs (iOS fails when it does).</summary>
    public TimeSpan AdvertisedPartTarget => TimeSpan.FromMilliseconds(Math.Ceiling(PartTarget.TotalMilliseconds * 11 / 10));

    /// <summary>A key frame starts a new segment once the current one is at least this long (segments are whole groups of pictures).</summary>
    public TimeSpan MinSegmentDuration { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The least EXT-X-TARGETDURATION, in whole seconds; it grows (never shrinks) if a segment's rounded duration is longer.</summary>
    public int MinTargetDuration { get; init; } = 2;

    /// <summary>The most complete segments kept (and listed).</summary>
    public int MaxSegments { get; init; } = 12;

    /// <summary>The most bytes of media kept (parts of every segment kept); the oldest segments go first, and a segment growing past half of it drops frames until the next key frame.</summary>
    public long MaxBytes { get; init; } = 32L << 20;

    /// <summary>Complete segments before the open one whose parts are listed (RFC 8216bis: parts near the live edge only).</summary>
    public int SegmentsWithParts { get; init; } = 2;

    /// <summary>Playlist snapshots kept for blocking requests (one per part and per segment end); older requests get the newest playlist.</summary>
    public int MaxSnapshots { get; init; } = 48;

    /// <summary>Checks the settings; throws on values the segmenter cannot work with.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PartTarget, TimeSpan.FromMilliseconds(50), nameof(PartTarget));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PartTarget, TimeSpan.FromSeconds(2), nameof(PartTarget));
        ArgumentOutOfRangeException.ThrowIfLessThan(MinSegmentDuration, PartTarget, nameof(MinSegmentDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MinTargetDuration, 1, nameof(MinTargetDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSegments, 2, nameof(MaxSegments));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytes, 64 * 1024, nameof(MaxBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SegmentsWithParts, 1, nameof(SegmentsWithParts));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSnapshots, 4, nameof(MaxSnapshots));
        ArgumentOutOfRangeException.ThrowIfZero(Timescale, nameof(Timescale));
    }
}
