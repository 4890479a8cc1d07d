using System.Globalization;
using System.Text;

namespace Osprey.Containers.Hls;

/// <summary>
/// Writes Osprey's playlists (RFC 8216bis) as UTF-8: the multivariant playlist, the low-latency media playlist
/// (parts, preload hint, server control, delta updates) and the plain media playlist. Deterministic: the same
/// window gives the same bytes.
/// </summary>
public static class HlsPlaylistWriter
{
    /// <summary>The multivariant playlist: one variant, <see cref="HlsNames.Media"/> (or <paramref name="mediaUri"/>).</summary>
    /// <param name="codecs">The RFC 6381 codec string (avc1.PPCCLL).</param>
    /// <param name="bandwidth">Peak bits per second.</param>
    /// <param name="width">Picture width, 0 when unknown.</param>
    /// <param name="height">Picture height, 0 when unknown.</param>
    /// <param name="frameRate">Frames per second, 0 when unknown.</param>
    /// <param name="mediaUri">The media playlist's URI.</param>
    public static byte[] WriteMultivariant(string codecs, long bandwidth, int width, int height, double frameRate, string mediaUri = HlsNames.Media)
    {
        ArgumentException.ThrowIfNullOrEmpty(codecs);
        var b = new StringBuilder(256);
        b.Append("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-STREAM-INF:BANDWIDTH={Math.Max(1, bandwidth)},CODECS=\"{codecs}\"");
        if (width > 0 && height > 0)
        {
            b.Append(CultureInfo.InvariantCulture, $",RESOLUTION={width}x{height}");
        }

        if (frameRate > 0)
        {
            b.Append(CultureInfo.InvariantCulture, $",FRAME-RATE={frameRate:0.000}");
        }

        b.Append('\n').Append(mediaUri).Append('\n');
        return Encoding.UTF8.GetBytes(b.ToString());
    }

    /// <summary>The low-latency media playlist of the window as it is now; a delta update when <paramref name="skip"/>.</summary>
    public static byte[] WriteLowLatency(HlsSegmenter segmenter, int discontinuitySequence, bool skip)
    {
        ArgumentNullException.ThrowIfNull(segmenter);
        var settings = segmenter.Settings;
        var target = segmenter.TargetDuration;
        var partTarget = settings.AdvertisedPartTarget.TotalSeconds;
        var skipUntil = 6.0 * target;
        var b = new StringBuilder(4096);
        b.Append("#EXTM3U\n#EXT-X-VERSION:9\n");
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-TARGETDURATION:{target}\n");
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skipUntil:0.0},PART-HOLD-BACK={3 * partTarget:0.000}\n");
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-PART-INF:PART-TARGET={partTarget:0.000}\n");
        WriteSequences(b, segmenter, discontinuitySequence);

        var segments = segmenter.Segments;
        var complete = segments.Count(s => s.IsComplete);
        var skipped = 0;
        if (skip)
        {
            // Skip the segments that end more than CAN-SKIP-UNTIL before the end of the playlist.
            var total = segments.Sum(s => s.Duration);
            long upTo = 0;
            for (var i = 0; i < complete; i++)
            {
                upTo += segments[i].Duration;
                if ((double)(total - upTo) / settings.Timescale < skipUntil)
                {
                    break;
                }

                skipped = i + 1;
            }

            if (skipped > 0)
            {
                b.Append(CultureInfo.InvariantCulture, $"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}\n");
            }
        }

        var withParts = complete - settings.SegmentsWithParts;
        int? map = null;
        for (var i = skipped; i < segments.Count; i++)
        {
            var segment = segments[i];
            WriteSegmentHead(b, segmenter, segment, ref map);
            if (i >= withParts)
            {
                foreach (var part in segment.Parts)
                {
                    b.Append(CultureInfo.InvariantCulture, $"#EXT-X-PART:DURATION={Seconds(part.Duration, settings.Timescale):0.00000},URI=\"{HlsNames.Part(part.Msn, part.Index)}\"");
                    b.Append(part.Independent ? ",INDEPENDENT=YES\n" : "\n");
                }
            }

            if (segment.IsComplete)
            {
                WriteSegmentTail(b, segment, settings.Timescale);
            }
        }

        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{HlsNames.Part(segmenter.HintMsn, segmenter.OpenPartIndex)}\"\n");
        return Encoding.UTF8.GetBytes(b.ToString());
    }

    /// <summary>The plain media playlist: complete segments only, no low-latency tags (players at a segment's pace, any cache).</summary>
    public static byte[] WritePlain(HlsSegmenter segmenter, int discontinuitySequence)
    {
        ArgumentNullException.ThrowIfNull(segmenter);
        var b = new StringBuilder(2048);
        b.Append("#EXTM3U\n#EXT-X-VERSION:7\n");
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-TARGETDURATION:{segmenter.TargetDuration}\n");
        WriteSequences(b, segmenter, discontinuitySequence);
        int? map = null;
        foreach (var segment in segmenter.Segments)
        {
            if (!segment.IsComplete)
            {
                break;
            }

            WriteSegmentHead(b, segmenter, segment, ref map);
            WriteSegmentTail(b, segment, segmenter.Settings.Timescale);
        }

        return Encoding.UTF8.GetBytes(b.ToString());
    }

    private static void WriteSequences(StringBuilder b, HlsSegmenter segmenter, int discontinuitySequence)
    {
        b.Append(CultureInfo.InvariantCulture, $"#EXT-X-MEDIA-SEQUENCE:{segmenter.FirstMsn}\n");
        if (discontinuitySequence > 0)
        {
            b.Append(CultureInfo.InvariantCulture, $"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuitySequence}\n");
        }
    }

    private static void WriteSegmentHead(StringBuilder b, HlsSegmenter segmenter, HlsSegment segment, ref int? map)
    {
        if (segment.Discontinuity && map is not null)
        {
            b.Append("#EXT-X-DISCONTINUITY\n");
        }

        if (map != segment.InitVersion)
        {
            b.Append(CultureInfo.InvariantCulture, $"#EXT-X-MAP:URI=\"{HlsNames.Init(segmenter.StreamId, segment.InitVersion)}\"\n");
            map = segment.InitVersion;
        }

        var time = DateTimeOffset.FromUnixTimeMilliseconds(segment.ProgramDateTimeMicros / 1000);
        b.Append("#EXT-X-PROGRAM-DATE-TIME:").Append(time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void WriteSegmentTail(StringBuilder b, HlsSegment segment, uint timescale) =>
        b.Append(CultureInfo.InvariantCulture, $"#EXTINF:{Seconds(segment.Duration, timescale):0.00000},\n{HlsNames.Segment(segment.Msn)}\n");

    private static double Seconds(long ticks, uint timescale) => (double)ticks / timescale;
}
