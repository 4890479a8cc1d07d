using System.Buffers;

namespace Osprey.Containers.Hls;

/// <summary>A complete partial segment: immutable bytes (whole fMP4 fragments), shared by every response.</summary>
/// <param name="Msn">Its segment's media sequence number.</param>
/// <param name="Index">Its index in the segment, from 0.</param>
/// <param name="Data">The fragments (moof + mdat each), never written again.</param>
/// <param name="Duration">Its duration in the timescale.</param>
/// <param name="Independent">True when it starts with a key frame (EXT-X-PART INDEPENDENT=YES).</param>
public sealed record HlsPart(long Msn, int Index, byte[] Data, long Duration, bool Independent);

/// <summary>One segment: a whole group of pictures (or more), its parts, when it began.</summary>
public sealed class HlsSegment
{
    private readonly List<HlsPart> _parts = [];

    internal HlsSegment(long msn, int initVersion, long programDateTimeMicros, bool discontinuity)
    {
        Msn = msn;
        InitVersion = initVersion;
        ProgramDateTimeMicros = programDateTimeMicros;
        Discontinuity = discontinuity;
    }

    /// <summary>The media sequence number.</summary>
    public long Msn { get; }

    /// <summary>The header version of its init segment (EXT-X-MAP).</summary>
    public int InitVersion { get; }

    /// <summary>The wall-clock capture time of its first frame, microseconds since the Unix epoch (EXT-X-PROGRAM-DATE-TIME).</summary>
    public long ProgramDateTimeMicros { get; }

    /// <summary>True when it does not continue the segment before it (a new init segment, or frames dropped).</summary>
    public bool Discontinuity { get; }

    /// <summary>Its complete parts, in order.</summary>
    public IReadOnlyList<HlsPart> Parts => _parts;

    /// <summary>True once the next segment has begun: its duration and parts are final.</summary>
    public bool IsComplete { get; internal set; }

    /// <summary>The sum of its complete parts' durations, in the timescale.</summary>
    public long Duration { get; private set; }

    /// <summary>Bytes of its complete parts.</summary>
    public long Bytes { get; private set; }

    internal void Add(HlsPart part)
    {
        _parts.Add(part);
        Duration += part.Duration;
        Bytes += part.Data.Length;
    }
}

/// <summary>What a media playlist request gets (<see cref="HlsSegmenter.Resolve"/>).</summary>
public enum HlsOutcome
{
    /// <summary>The playlist is ready: answer 200 with it.</summary>
    Ready,

    /// <summary>What was asked for does not exist yet: wait for the next change and ask again.</summary>
    Wait,

    /// <summary>The request can never be satisfied from this window (too far ahead or already gone): 400.</summary>
    BadRequest,
}

/// <summary>What a part or segment request finds (<see cref="HlsSegmenter.FindPart"/>).</summary>
public enum HlsPartState
{
    /// <summary>It is there.</summary>
    Available,

    /// <summary>It is the part the playlist hints at (EXT-X-PRELOAD-HINT), or the segment being made: wait for it.</summary>
    Pending,

    /// <summary>It is not in the window and will not be: 404.</summary>
    Missing,
}

/// <summary>
/// Cuts a stream of fMP4 fragments (one access unit each) into HLS segments and partial segments, keeps a window
/// of them bounded in segments and bytes, and renders the playlists (RFC 8216bis, with Low-Latency HLS): every
/// playlist a blocking request can get is rendered once, when the part or segment it waits for completes, and kept,
/// so the same URL always gets the same bytes (a cache may serve it to anyone).
/// </summary>
/// <remarks>
/// <para>Parts: a part ends as soon as the next frame would make it longer than <see cref="HlsSettings.PartTarget"/>
/// (judged from the last frame's duration), or before a frame that would; a key frame that starts a segment
/// always starts a part, marked INDEPENDENT. Segments: a key frame starts one once the current one is at least
/// <see cref="HlsSettings.MinSegmentDuration"/> long, so every segment is whole groups of pictures.</para>
/// <para>Not thread-safe: one writer calls <see cref="Add"/>; readers call the rest under the same lock. The byte
/// arrays it hands out (parts, playlists, init segments) are never written again, so they may be sent after
/// the lock is released.</para>
/// </remarks>
public sealed class HlsSegmenter
{
    private readonly HlsSettings _settings;
    private readonly List<HlsSegment> _segments = []; // complete segments then the open one
    private readonly Dictionary<int, byte[]> _inits = [];
    private readonly Dictionary<(long Msn, int Part), HlsSnapshot> _partSnapshots = [];
    private readonly Dictionary<long, HlsSnapshot> _segmentSnapshots = [];
    private readonly Queue<(long Msn, int Part)> _snapshotOrder = new();
    private readonly ArrayBufferWriter<byte> _openPart = new(64 * 1024);
    private readonly long _partTargetTicks;
    private readonly long _partLimitTicks;
    private readonly long _minSegmentTicks;
    private long _openPartDuration;
    private bool _openPartIndependent;
    private long _nextMsn;
    private bool _dropUntilKeyFrame;
    private bool _pendingDiscontinuity;
    private int _discontinuitySequence;
    private long _bytes;
    private HlsSnapshot? _latest;
    private byte[]? _plain;

    /// <summary>Creates an empty segmenter whose first segment is <paramref name="firstMsn"/>.</summary>
    /// <param name="settings">The settings (checked).</param>
    /// <param name="firstMsn">The first media sequence number, and the stream's id in its init segment names: make it larger than any earlier stream's last (the Unix time in seconds does, segments being a second or longer), so that no URL a cache holds names different bytes.</param>
    public HlsSegmenter(HlsSettings settings, long firstMsn)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(firstMsn);
        _settings = settings;
        StreamId = firstMsn;
        _nextMsn = firstMsn;
        _partTargetTicks = ToTicks(settings.PartTarget);
        _partLimitTicks = ToTicks(settings.AdvertisedPartTarget);
        _minSegmentTicks = ToTicks(settings.MinSegmentDuration);
        TargetDuration = settings.MinTargetDuration;
    }

    /// <summary>The stream's id (its first media sequence number), in its init segments' names.</summary>
    public long StreamId { get; }

    /// <summary>The settings.</summary>
    public HlsSettings Settings => _settings;

    /// <summary>EXT-X-TARGETDURATION in seconds.</summary>
    public int TargetDuration { get; private set; }

    /// <summary>The segments in the window, complete ones then the open one.</summary>
    public IReadOnlyList<HlsSegment> Segments => _segments;

    /// <summary>Bytes of media the window holds (complete parts and the part being made).</summary>
    public long Bytes => _bytes + _openPart.WrittenCount;

    /// <summary>Frames dropped: before the first key frame, after a header change until a key frame, or past the byte bound.</summary>
    public long DroppedFrames { get; private set; }

    /// <summary>Parts completed since the start.</summary>
    public long PartsMade { get; private set; }

    /// <summary>Segments completed since the start.</summary>
    public long SegmentsMade { get; private set; }

    /// <summary>Bumped on every change a waiting request may be waiting for (a part, a segment).</summary>
    public long Version { get; private set; }

    /// <summary>True once the first segment is complete: playlists exist from then on.</summary>
    public bool HasPlaylist => _latest is not null;

    /// <summary>The newest low-latency playlist (full), or null before the first segment completes.</summary>
    public HlsSnapshot? Latest => _latest;

    /// <summary>The newest plain playlist (segments only), or null before the first segment completes.</summary>
    public byte[]? PlainPlaylist => _plain;

    /// <summary>The open segment's media sequence number (the live edge), or the next one before any frame.</summary>
    public long OpenMsn => _segments.Count > 0 && !_segments[^1].IsComplete ? _segments[^1].Msn : _nextMsn;

    /// <summary>The first media sequence number in the window.</summary>
    public long FirstMsn => _segments.Count > 0 ? _segments[0].Msn : _nextMsn;

    private HlsSegment? Open => _segments.Count > 0 && !_segments[^1].IsComplete ? _segments[^1] : null;

    /// <summary>Registers the init segment of header <paramref name="version"/> (bytes copied).</summary>
    public void SetInit(int version, ReadOnlySpan<byte> init)
    {
        _inits[version] = init.ToArray();
        foreach (var stale in _inits.Keys.Where(v => v != version && !_segments.Any(s => s.InitVersion == v)).ToList())
        {
            _inits.Remove(stale);
        }
    }

    /// <summary>The init segment of <paramref name="version"/>, or null when it is not kept.</summary>
    public byte[]? GetInit(int version) => _inits.GetValueOrDefault(version);

    /// <summary>
    /// Adds one fragment (moof + mdat of one access unit); returns true when a part (and maybe a segment) completed.
    /// </summary>
    /// <param name="fragment">The fragment's bytes (copied).</param>
    /// <param name="duration">Its duration in the timescale (from its trun).</param>
    /// <param name="isKeyFrame">True when it starts with a sync sample.</param>
    /// <param name="captureTimeMicros">Its wall-clock capture time, microseconds since the Unix epoch.</param>
    /// <param name="initVersion">The header version it belongs to; its init must have been set.</param>
    public bool Add(ReadOnlySpan<byte> fragment, long duration, bool isKeyFrame, long captureTimeMicros, int initVersion)
    {
        duration = Math.Clamp(duration, 1, _settings.Timescale * 10L);
        var open = Open;
        if (open is not null && open.InitVersion != initVersion && !isKeyFrame)
        {
            _dropUntilKeyFrame = true; // a new header needs a new segment, which needs a key frame
        }

        if (open is null && !isKeyFrame)
        {
            DroppedFrames++;
            return false;
        }

        if (_dropUntilKeyFrame && !isKeyFrame)
        {
            DroppedFrames++;
            return false;
        }

        var changed = false;
        var segmentDuration = open is null ? 0 : open.Duration + _openPartDuration;
        if (open is null || (isKeyFrame && (segmentDuration >= _minSegmentTicks || open.InitVersion != initVersion || _dropUntilKeyFrame)))
        {
            var discontinuity = _pendingDiscontinuity || (open is not null && (open.InitVersion != initVersion || _dropUntilKeyFrame));
            if (open is not null)
            {
                changed |= ClosePart(open);
                CompleteSegment(open);
                changed = true;
            }

            _dropUntilKeyFrame = false;
            _pendingDiscontinuity = false;
            open = new HlsSegment(_nextMsn++, initVersion, captureTimeMicros, discontinuity && _segments.Count > 0);
            _segments.Add(open);
            if (changed)
            {
                RenderSegmentEnd(_segments[^2]);
            }
        }
        else if (_openPart.WrittenCount > 0 && _openPartDuration + duration > _partLimitTicks)
        {
            changed |= ClosePart(open);
            RenderPartEnd(open);
        }

        if (open.Bytes + _openPart.WrittenCount + fragment.Length > _settings.MaxBytes / 2 && !isKeyFrame)
        {
            // A group of pictures too large for the window: the rest of it is dropped and the next key frame
            // starts a new, discontinuous segment.
            _dropUntilKeyFrame = true;
            _pendingDiscontinuity = true;
            DroppedFrames++;
            return changed;
        }

        if (_openPart.WrittenCount == 0)
        {
            _openPartIndependent = isKeyFrame;
        }

        _openPart.Write(fragment);
        _openPartDuration += duration;
        Evict();
        // Close now if the next frame (as long as this one, with a quarter of a frame's slack for clock jitter)
        // would overflow the target: the part is then available a frame earlier.
        if (_openPartDuration + duration - (duration / 4) > _partTargetTicks)
        {
            ClosePart(open);
            RenderPartEnd(open);
            changed = true;
        }

        return changed;
    }

    /// <summary>
    /// Decides a media playlist request: <see cref="HlsOutcome.Ready"/> with the playlist's bytes,
    /// <see cref="HlsOutcome.Wait"/> until <see cref="Version"/> changes, or <see cref="HlsOutcome.BadRequest"/>
    /// (an <c>_HLS_msn</c> older than the window or more than two segments past the live edge, or a part index past
    /// what a segment can reach in the advance limit of three parts).
    /// </summary>
    public HlsOutcome Resolve(HlsDirectives directives, out byte[]? playlist)
    {
        playlist = null;
        if (_latest is null)
        {
            return HlsOutcome.Wait;
        }

        if (directives.Msn is not { } msn)
        {
            playlist = _latest.Pick(directives.Skip);
            return HlsOutcome.Ready;
        }

        if (msn < FirstMsn || msn > OpenMsn + 2)
        {
            return HlsOutcome.BadRequest;
        }

        var index = _segments.FindIndex(s => s.Msn == msn);
        var segment = index >= 0 ? _segments[index] : null;
        if (directives.Part is not { } part)
        {
            if (segment is { IsComplete: true })
            {
                playlist = (_segmentSnapshots.GetValueOrDefault(msn) ?? _latest).Pick(directives.Skip);
                return HlsOutcome.Ready;
            }

            return HlsOutcome.Wait;
        }

        if (segment is not null && part < segment.Parts.Count)
        {
            playlist = (_partSnapshots.GetValueOrDefault((msn, part)) ?? _latest).Pick(directives.Skip);
            return HlsOutcome.Ready;
        }

        if (segment is { IsComplete: true })
        {
            // A part past the end of a complete segment is the first part of the next one (RFC 8216bis §6.2.5.2).
            return Resolve(directives with { Msn = msn + 1, Part = 0 }, out playlist);
        }

        // The advance part limit (RFC 8216bis §6.2.5.2): at most three parts past the live edge.
        var limit = msn == OpenMsn ? OpenPartIndex + 3 : 3;
        if (part > limit)
        {
            return HlsOutcome.BadRequest;
        }

        return HlsOutcome.Wait;
    }

    /// <summary>Finds a part: there, pending (the preload hint: wait), or missing.</summary>
    public HlsPartState FindPart(long msn, int index, out HlsPart? part)
    {
        part = null;
        var segment = _segments.Find(s => s.Msn == msn);
        if (segment is not null && index < segment.Parts.Count)
        {
            part = segment.Parts[index];
            return HlsPartState.Available;
        }

        var hinted = msn == OpenMsn && index == (Open?.Parts.Count ?? 0);
        return hinted ? HlsPartState.Pending : HlsPartState.Missing;
    }

    /// <summary>Finds a whole segment: complete, being made (wait), or missing.</summary>
    public HlsPartState FindSegment(long msn, out HlsSegment? segment)
    {
        segment = _segments.Find(s => s.Msn == msn);
        if (segment is { IsComplete: true })
        {
            return HlsPartState.Available;
        }

        segment = null;
        return msn == OpenMsn || msn == OpenMsn + 1 ? HlsPartState.Pending : HlsPartState.Missing;
    }

    private bool ClosePart(HlsSegment open)
    {
        if (_openPart.WrittenCount == 0)
        {
            return false;
        }

        var part = new HlsPart(open.Msn, open.Parts.Count, _openPart.WrittenSpan.ToArray(), _openPartDuration, _openPartIndependent);
        open.Add(part);
        _bytes += part.Data.Length;
        _openPart.ResetWrittenCount();
        _openPartDuration = 0;
        PartsMade++;
        Version++;
        return true;
    }

    private void CompleteSegment(HlsSegment segment)
    {
        segment.IsComplete = true;
        SegmentsMade++;
        Version++;
        var rounded = (int)Math.Round((double)segment.Duration / _settings.Timescale, MidpointRounding.AwayFromZero);
        TargetDuration = Math.Max(TargetDuration, rounded);
        Evict();
        _plain = HlsPlaylistWriter.WritePlain(this, _discontinuitySequence);
    }

    /// <summary>Drops the oldest complete segments past the segment count or the byte bound, keeping at least one.</summary>
    private void Evict()
    {
        var complete = _segments.Count(s => s.IsComplete);
        while (complete > 1 && (complete > _settings.MaxSegments || Bytes > _settings.MaxBytes))
        {
            var gone = _segments[0];
            _segments.RemoveAt(0);
            _bytes -= gone.Bytes;
            complete--;
            if (_segments[0].Discontinuity)
            {
                _discontinuitySequence++;
            }
        }
    }

    private void RenderPartEnd(HlsSegment open)
    {
        if (_latest is null)
        {
            return; // no playlist before the first complete segment
        }

        var snapshot = Render();
        Keep((open.Msn, open.Parts.Count - 1), snapshot);
    }

    private void RenderSegmentEnd(HlsSegment completed)
    {
        var snapshot = Render();
        _segmentSnapshots[completed.Msn] = snapshot;
        _snapshotOrder.Enqueue((completed.Msn, -1));
        if (completed.Parts.Count > 0 && !_partSnapshots.ContainsKey((completed.Msn, completed.Parts.Count - 1)))
        {
            // Its last part closed with it: a request waiting for that part gets the playlist that completes the segment.
            Keep((completed.Msn, completed.Parts.Count - 1), snapshot);
        }

        Trim();
    }

    private HlsSnapshot Render()
    {
        var full = HlsPlaylistWriter.WriteLowLatency(this, _discontinuitySequence, skip: false);
        var delta = HlsPlaylistWriter.WriteLowLatency(this, _discontinuitySequence, skip: true);
        _latest = new HlsSnapshot(full, delta);
        return _latest;
    }

    private void Keep((long Msn, int Part) key, HlsSnapshot snapshot)
    {
        _partSnapshots[key] = snapshot;
        _snapshotOrder.Enqueue(key);
        Trim();
    }

    private void Trim()
    {
        while (_snapshotOrder.Count > _settings.MaxSnapshots)
        {
            var (msn, part) = _snapshotOrder.Dequeue();
            if (part < 0)
            {
                _segmentSnapshots.Remove(msn);
            }
            else
            {
                _partSnapshots.Remove((msn, part));
            }
        }
    }

    /// <summary>The open part's index, for the preload hint.</summary>
    internal int OpenPartIndex => Open?.Parts.Count ?? 0;

    /// <summary>The open segment's msn for the preload hint: the open one, or the next before any frame of it.</summary>
    internal long HintMsn => OpenMsn;

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _settings.Timescale);
}

/// <summary>One rendering of the low-latency playlist: in full and as a delta update.</summary>
/// <param name="Full">The whole playlist.</param>
/// <param name="Delta">The playlist with the segments before the skip boundary replaced by EXT-X-SKIP.</param>
public sealed record HlsSnapshot(byte[] Full, byte[] Delta)
{
    /// <summary>The delta update when <paramref name="skip"/>, else the full playlist.</summary>
    public byte[] Pick(bool skip) => skip ? Delta : Full;
}
