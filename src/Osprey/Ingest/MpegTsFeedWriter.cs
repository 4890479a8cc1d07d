using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Ingest;

/// <summary>
/// Publishes an ingested MPEG transport stream (ffmpeg POSTing <c>-f mpegts</c>) into a feed: each
/// <see cref="TsChunker"/> chunk becomes one frame, key chunks flagged, and the feed's header carries the latest
/// PAT and PMT packets for new viewers.
/// </summary>
/// <remarks>
/// <para>The feed must be created with <see cref="Feed.KeepGroupOfPictures"/> set, so that a new ordered viewer
/// starts at once from the latest key chunk. Viewers send <see cref="Feed.Header"/>'s packets
/// (<see cref="StreamHeader.InitSegment"/>, MIME type <c>video/mp2t</c>) before the first chunk of a header version
/// they have not had. Frames published before the stream's first PAT and PMT (or of a stream without them, as
/// jsmpeg's streams may be) carry <see cref="Frame.HeaderVersion"/> 0: no header is needed for them.</para>
/// <para>Versions continue from the feed's current header, so a new connection of the publisher never reuses a
/// version viewers already had for other tables; when its tables are the same bytes, the version is kept.</para>
/// <para>Frames: <see cref="MediaFormat.MpegTs"/>, stamped with the wall clock and the monotonic clock when the
/// chunk is handed out (the capture time of ingested bytes is when Osprey has them). One copy per chunk, from the
/// chunker's buffer into a pooled frame. Not thread-safe: one connection writes.</para>
/// </remarks>
public sealed class MpegTsFeedWriter
{
    /// <summary>The MIME type of the feed's header.</summary>
    public const string MimeType = TsPacket.MimeType;

    private readonly Feed _feed;
    private readonly TimeProvider _time;
    private readonly Sink _sink;
    private int _headerVersion;

    /// <summary>Creates a writer for <paramref name="feed"/>.</summary>
    /// <param name="feed">The feed, made with <see cref="Feed.KeepGroupOfPictures"/> set.</param>
    /// <param name="time">The wall clock for capture times.</param>
    /// <param name="maxChunkSize">The largest chunk (see <see cref="TsChunker"/>).</param>
    public MpegTsFeedWriter(Feed feed, TimeProvider? time = null, int maxChunkSize = TsChunker.DefaultMaxChunkSize)
    {
        ArgumentNullException.ThrowIfNull(feed);
        _feed = feed;
        _time = time ?? TimeProvider.System;
        Chunker = new TsChunker(maxChunkSize);
        _sink = new Sink(this);
        if (feed.Info.Format == MediaFormat.Unknown)
        {
            feed.Info = new VideoInfo(MediaFormat.MpegTs, 0, 0, 0);
        }
    }

    /// <summary>The parser, for its counters (packets, chunks, resyncs, continuity errors, PCR) and programme.</summary>
    public TsChunker Chunker { get; }

    /// <summary>The feed written.</summary>
    public Feed Feed => _feed;

    /// <summary>The header version of the frames published now (0 before the first PAT and PMT).</summary>
    public int HeaderVersion => _headerVersion;

    /// <summary>The programme from the stream's latest PAT and PMT; null before them.</summary>
    public TsProgram? Program => Chunker.Program;

    /// <summary>Packets accepted.</summary>
    public long Packets => Chunker.Packets;

    /// <summary>Frames (chunks) published.</summary>
    public long Chunks => Chunker.Chunks;

    /// <summary>Key frames (chunks starting at a random access point) published.</summary>
    public long KeyChunks => Chunker.KeyChunks;

    /// <summary>Times packet alignment was lost and found again.</summary>
    public long ResyncCount => Chunker.ResyncCount;

    /// <summary>Bytes skipped as not part of a packet.</summary>
    public long DiscardedBytes => Chunker.DiscardedBytes;

    /// <summary>Continuity counter errors (lost packets).</summary>
    public long ContinuityErrors => Chunker.ContinuityErrors;

    /// <summary>Consumes bytes as they arrive (any size); publishes every chunk they complete.</summary>
    public void Write(ReadOnlySpan<byte> data) => Chunker.Write(data, _sink);

    /// <summary>Publishes what is pending; call it after each network read so that chunks add no latency.</summary>
    public void Flush() => Chunker.Flush(_sink);

    private void OnChunk(ReadOnlySpan<byte> packets, bool isKey)
    {
        if (isKey && MpegVideoSequenceHeader.TryRead(packets, out var width, out var height, out var fps) &&
            (_feed.Info.Width != width || _feed.Info.Height != height || _feed.Info.Fps != fps))
        {
            _feed.Info = new VideoInfo(MediaFormat.MpegTs, width, height, fps);
        }

        var frame = _feed.Pool.Rent(packets.Length);
        try
        {
            packets.CopyTo(frame.GetWritableSpan(packets.Length));
            frame.StampCaptured(MediaFormat.MpegTs, 0, 0, isKey, ProbeHeader.NowMicros(_time));
            frame.HeaderVersion = _headerVersion;
        }
        catch
        {
            frame.Release();
            throw;
        }

        _feed.Publish(frame);
    }

    private void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets)
    {
        var current = _feed.Header;
        if (current is not null && current.MimeType == MimeType && current.InitSegment.Span.SequenceEqual(psiPackets.Span))
        {
            _headerVersion = current.Version; // the same tables as before (a reconnecting ffmpeg)
            return;
        }

        _headerVersion = Math.Max(_headerVersion, current?.Version ?? 0) + 1;
        _feed.Header = new StreamHeader(_headerVersion, MimeType, psiPackets);
    }

    // The chunker's callbacks, kept off the public surface.
    private sealed class Sink(MpegTsFeedWriter writer) : ITsChunkSink
    {
        public void OnChunk(ReadOnlySpan<byte> packets, bool isKey) => writer.OnChunk(packets, isKey);

        public void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets) => writer.OnHeaderChanged(psiPackets);
    }
}
