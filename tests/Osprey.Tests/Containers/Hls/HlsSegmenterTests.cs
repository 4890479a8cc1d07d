using System.Globalization;
using System.Text;
using Osprey.Containers.Hls;
using Osprey.Containers.Mp4;

namespace Osprey.Tests.Containers.Hls;

public class HlsSegmenterTests
{
    private const long FirstMsn = 1_700_000_000;

    /// <summary>A 30 fps stream with a key frame every <paramref name="gop"/> frames, frame durations jittered by up to ±<paramref name="jitter"/> ticks.</summary>
    private sealed class Stream(HlsSegmenter segmenter, int gop = 60, int jitter = 0, int frameBytes = 300)
    {
        private readonly Random _random = new(7);
        private long _time;
        private int _frame;

        public List<byte[]> Fragments { get; } = [];

        public void Frames(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var key = _frame % gop == 0;
                var duration = 3000 + (jitter > 0 ? _random.Next(-jitter, jitter + 1) : 0);
                var fragment = HlsTestMedia.Fragment(key, (ulong)_time, (uint)duration, frameBytes, _frame);
                Fragments.Add(fragment);
                Assert.True(Fmp4FragmentReader.TryRead(fragment, out var info));
                segmenter.Add(fragment, (long)info.Duration, info.StartsWithSyncSample, 1_780_000_000_000_000 + (_time * 100 / 9), 1);
                _time += duration;
                _frame++;
            }
        }
    }

    private static HlsSegmenter NewSegmenter(HlsSettings? settings = null)
    {
        var segmenter = new HlsSegmenter(settings ?? new HlsSettings(), FirstMsn);
        segmenter.SetInit(1, [1, 2, 3]);
        return segmenter;
    }

    private static string Text(byte[] playlist) => Encoding.UTF8.GetString(playlist);

    private static byte[] Get(HlsSegmenter segmenter, long? msn = null, int? part = null, bool skip = false)
    {
        Assert.Equal(HlsOutcome.Ready, segmenter.Resolve(new HlsDirectives(msn, part, skip), out var playlist));
        return playlist!;
    }

    private static IEnumerable<(double Duration, string Uri, bool Independent)> PartsOf(string playlist) =>
        playlist.Split('\n').Where(l => l.StartsWith("#EXT-X-PART:", StringComparison.Ordinal)).Select(l =>
        {
            var duration = double.Parse(l.Split("DURATION=")[1].Split(',')[0], CultureInfo.InvariantCulture);
            var uri = l.Split("URI=\"")[1].Split('"')[0];
            return (duration, uri, l.Contains("INDEPENDENT=YES", StringComparison.Ordinal));
        });

    [Fact]
    public void NoPlaylist_BeforeTheFirstSegmentIsComplete_AndAFirstFrameThatIsNotAKeyFrameIsDropped()
    {
        var segmenter = NewSegmenter();
        Assert.False(segmenter.Add(HlsTestMedia.Fragment(false, 0, 3000, 100, 0), 3000, false, 0, 1));
        Assert.Equal(1, segmenter.DroppedFrames);
        new Stream(segmenter).Frames(59);
        Assert.False(segmenter.HasPlaylist);
        Assert.Equal(HlsOutcome.Wait, segmenter.Resolve(default, out _));
        new Stream(segmenter).Frames(1); // a key frame (frame 0 of a new stream) completes the first segment
        Assert.True(segmenter.HasPlaylist);
    }

    [Fact]
    public void Parts_NeverExceedThePartTarget_WhichNeverChanges_AndStayAbove85Percent_ExceptASegmentsLast()
    {
        var segmenter = NewSegmenter();
        var stream = new Stream(segmenter, jitter: 150);
        var partInfs = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 30; i++)
        {
            stream.Frames(20);
            if (segmenter.HasPlaylist)
            {
                partInfs.Add(Text(Get(segmenter)).Split('\n').Single(l => l.StartsWith("#EXT-X-PART-INF:", StringComparison.Ordinal)));
            }
        }

        Assert.Equal(["#EXT-X-PART-INF:PART-TARGET=0.220"], partInfs);
        foreach (var segment in segmenter.Segments.Where(s => s.IsComplete))
        {
            for (var p = 0; p < segment.Parts.Count; p++)
            {
                var seconds = segment.Parts[p].Duration / 90000.0;
                Assert.True(seconds <= 0.22, $"part {segment.Msn}.{p} lasts {seconds} s");
                if (p < segment.Parts.Count - 1)
                {
                    Assert.True(seconds >= 0.85 * 0.22, $"part {segment.Msn}.{p} lasts {seconds} s");
                }
            }
        }
    }

    [Fact]
    public void Independent_IsOnExactlyThePartsThatStartWithAKeyFrame_AndEverySegmentStartsWithOne()
    {
        var segmenter = NewSegmenter();
        var stream = new Stream(segmenter, gop: 45); // 1.5 s groups: a key frame every segment
        stream.Frames(45 * 6 + 10);
        var playlist = Text(Get(segmenter));
        var listed = PartsOf(playlist).ToList();
        Assert.NotEmpty(listed);
        foreach (var segment in segmenter.Segments)
        {
            Assert.True(segment.Parts.Count == 0 || segment.Parts[0].Independent, $"segment {segment.Msn} starts without a key frame");
            Assert.All(segment.Parts.Skip(1), p => Assert.False(p.Independent));
        }

        // The bytes agree: a part marked independent begins with a sync sample, the others do not.
        foreach (var (_, uri, independent) in listed)
        {
            var name = HlsNames.Parse(uri);
            Assert.Equal(HlsPartState.Available, segmenter.FindPart(name.Number, name.Index, out var part));
            Assert.True(Fmp4FragmentReader.TryRead(part!.Data, out var info));
            Assert.Equal(independent, info.StartsWithSyncSample);
        }
    }

    [Fact]
    public void Segments_AreWholeGroupsOfPictures_WithATargetDurationTheirRoundedDurationsKeep()
    {
        var segmenter = NewSegmenter();
        new Stream(segmenter, gop: 60, jitter: 100).Frames(60 * 8 + 5);
        var playlist = Text(segmenter.PlainPlaylist!);
        var target = int.Parse(playlist.Split('\n').Single(l => l.StartsWith("#EXT-X-TARGETDURATION:", StringComparison.Ordinal))[22..], CultureInfo.InvariantCulture);
        Assert.Equal(2, target);
        var extinfs = playlist.Split('\n').Where(l => l.StartsWith("#EXTINF:", StringComparison.Ordinal)).Select(l => double.Parse(l[8..^1], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(8, extinfs.Count); // the 9th group (from frame 480) still open
        Assert.All(extinfs, d => Assert.InRange(d, 1.9, 2.1));
        Assert.All(extinfs, d => Assert.True(Math.Round(d, MidpointRounding.AwayFromZero) <= target));
        Assert.All(segmenter.Segments.Where(s => s.IsComplete), s => Assert.Equal(60 * 3000, s.Duration, tolerance: 60 * 100));
        Assert.DoesNotContain("#EXT-X-PART", playlist, StringComparison.Ordinal);
        Assert.Contains("#EXT-X-PROGRAM-DATE-TIME:", playlist, StringComparison.Ordinal);
    }

    [Fact]
    public void BlockingRequest_ForAFuturePart_Waits_ThenGetsThePlaylistEndingWithIt_AndTheSameBytesEverAfter()
    {
        var segmenter = NewSegmenter();
        var stream = new Stream(segmenter);
        stream.Frames(70);
        var live = segmenter.OpenMsn;
        var nextPart = segmenter.Segments[^1].Parts.Count;
        var hint = $"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{HlsNames.Part(live, nextPart)}\"";
        Assert.EndsWith(hint + "\n", Text(Get(segmenter)), StringComparison.Ordinal);
        Assert.Equal(HlsPartState.Pending, segmenter.FindPart(live, nextPart, out _));
        Assert.Equal(HlsPartState.Missing, segmenter.FindPart(live, nextPart + 1, out _));
        Assert.Equal(HlsOutcome.Wait, segmenter.Resolve(new HlsDirectives(live, nextPart, false), out _));

        stream.Frames(6);
        var first = Get(segmenter, live, nextPart);
        var text = Text(first);
        Assert.Contains($"URI=\"{HlsNames.Part(live, nextPart)}\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain($"URI=\"{HlsNames.Part(live, nextPart + 1)}\"\n#EXT-X-PART", text, StringComparison.Ordinal);
        Assert.EndsWith($"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{HlsNames.Part(live, nextPart + 1)}\"\n", text, StringComparison.Ordinal);

        stream.Frames(30);
        Assert.Equal(first, Get(segmenter, live, nextPart)); // byte-identical later: a cache may serve it to anyone
        Assert.NotEqual(first, Get(segmenter));
        Assert.Equal(Get(segmenter, live, nextPart, skip: true), Get(segmenter, live, nextPart, skip: true));
    }

    [Fact]
    public void BlockingRequest_OutsideTheWindow_IsABadRequest_AsIsOneTooFarAhead()
    {
        var segmenter = NewSegmenter(new HlsSettings { MaxSegments = 3 });
        new Stream(segmenter).Frames(60 * 6 + 10);
        Assert.True(segmenter.FirstMsn > FirstMsn);
        Assert.Equal(HlsOutcome.BadRequest, segmenter.Resolve(new HlsDirectives(FirstMsn, null, false), out _));
        Assert.Equal(HlsOutcome.BadRequest, segmenter.Resolve(new HlsDirectives(segmenter.FirstMsn - 1, 0, false), out _));
        Assert.Equal(HlsOutcome.BadRequest, segmenter.Resolve(new HlsDirectives(segmenter.OpenMsn + 3, null, false), out _));
        Assert.Equal(HlsOutcome.BadRequest, segmenter.Resolve(new HlsDirectives(segmenter.OpenMsn, segmenter.Segments[^1].Parts.Count + 4, false), out _));
        Assert.Equal(HlsOutcome.Wait, segmenter.Resolve(new HlsDirectives(segmenter.OpenMsn + 2, null, false), out _));
        Assert.Equal(HlsOutcome.Ready, segmenter.Resolve(new HlsDirectives(segmenter.FirstMsn, null, false), out _));
    }

    [Fact]
    public void APartPastTheEndOfACompleteSegment_IsTheNextSegmentsFirstPart()
    {
        var segmenter = NewSegmenter();
        var stream = new Stream(segmenter);
        stream.Frames(60 * 2 + 8); // the third segment's first part (six frames) is complete
        var complete = segmenter.Segments.Last(s => s.IsComplete);
        var past = Get(segmenter, complete.Msn, complete.Parts.Count);
        Assert.Equal(Get(segmenter, complete.Msn + 1, 0), past);
    }

    [Fact]
    public void DeltaUpdate_SkipsTheSegmentsBeforeTheSkipBoundary_AndListsTheRestAsTheFullPlaylistDoes()
    {
        var segmenter = NewSegmenter();
        new Stream(segmenter).Frames(60 * 11 + 7); // 11 complete 2 s segments: 22 s, CAN-SKIP-UNTIL 12 s
        var full = Text(Get(segmenter));
        var delta = Text(Get(segmenter, skip: true));
        Assert.Contains("CAN-SKIP-UNTIL=12.0", full, StringComparison.Ordinal);
        var skipped = int.Parse(delta.Split('\n').Single(l => l.StartsWith("#EXT-X-SKIP:SKIPPED-SEGMENTS=", StringComparison.Ordinal))[29..], CultureInfo.InvariantCulture);
        Assert.Equal(5, skipped); // segments ending 12 s or more before the end (22 s + the open part)
        var fullSegments = full.Split('\n').Where(l => l.EndsWith(".m4s", StringComparison.Ordinal) && !l.StartsWith('#')).ToList();
        var deltaSegments = delta.Split('\n').Where(l => l.EndsWith(".m4s", StringComparison.Ordinal) && !l.StartsWith('#')).ToList();
        Assert.Equal(fullSegments.Skip(skipped), deltaSegments);
        Assert.Equal(full[full.IndexOf("#EXT-X-PART:", StringComparison.Ordinal)..], delta[delta.IndexOf("#EXT-X-PART:", StringComparison.Ordinal)..]);
        Assert.DoesNotContain("#EXT-X-SKIP", full, StringComparison.Ordinal);
    }

    [Fact]
    public void Window_IsBoundedInBytes_DroppingTheOldestSegments()
    {
        var settings = new HlsSettings { MaxBytes = 256 * 1024, MaxSegments = 100 };
        var segmenter = NewSegmenter(settings);
        new Stream(segmenter, frameBytes: 1500).Frames(60 * 20);
        Assert.True(segmenter.Bytes <= settings.MaxBytes, $"{segmenter.Bytes} bytes kept");
        Assert.InRange(segmenter.Segments.Count, 2, 3);
        Assert.Equal(segmenter.FirstMsn, long.Parse(Text(Get(segmenter)).Split('\n').Single(l => l.StartsWith("#EXT-X-MEDIA-SEQUENCE:", StringComparison.Ordinal))[22..], CultureInfo.InvariantCulture));
        Assert.Equal(HlsPartState.Missing, segmenter.FindPart(FirstMsn, 0, out _));
        Assert.Equal(HlsPartState.Missing, segmenter.FindSegment(FirstMsn, out _));
    }

    [Fact]
    public void AGroupOfPicturesLargerThanHalfTheWindow_IsCutShort_AndTheNextSegmentIsADiscontinuity()
    {
        var settings = new HlsSettings { MaxBytes = 128 * 1024 };
        var segmenter = NewSegmenter(settings);
        new Stream(segmenter, gop: 300, frameBytes: 2000).Frames(300 * 2 + 5);
        Assert.True(segmenter.DroppedFrames > 0);
        Assert.True(segmenter.Bytes <= settings.MaxBytes);
        Assert.Contains("#EXT-X-DISCONTINUITY\n", Text(Get(segmenter)), StringComparison.Ordinal);
    }

    [Fact]
    public void Segment_IsItsPartsConcatenated_AndEveryFragmentIsKeptInOrder()
    {
        var segmenter = NewSegmenter();
        var stream = new Stream(segmenter);
        stream.Frames(60 * 3 + 1);
        var bytes = segmenter.Segments.Where(s => s.IsComplete).SelectMany(s => s.Parts).SelectMany(p => p.Data).ToArray();
        Assert.Equal(stream.Fragments.Take(180).SelectMany(f => f).ToArray(), bytes);
        Assert.Equal(HlsPartState.Available, segmenter.FindSegment(FirstMsn, out var first));
        Assert.Equal(stream.Fragments.Take(60).SelectMany(f => f).ToArray(), first!.Parts.SelectMany(p => p.Data).ToArray());
        Assert.Equal(HlsPartState.Pending, segmenter.FindSegment(segmenter.OpenMsn, out _));
    }

    [Fact]
    public void ANewHeaderVersion_StartsASegmentWithItsOwnMap_AtTheNextKeyFrame()
    {
        var segmenter = NewSegmenter();
        new Stream(segmenter).Frames(61);
        segmenter.SetInit(2, [9, 9]);
        Assert.False(segmenter.Add(HlsTestMedia.Fragment(false, 0, 3000, 100, 1), 3000, false, 0, 2)); // not a key frame: dropped
        segmenter.Add(HlsTestMedia.Fragment(true, 0, 3000, 100, 2), 3000, true, 0, 2);
        var text = Text(Get(segmenter));
        Assert.Contains($"#EXT-X-MAP:URI=\"init-{FirstMsn}-1.mp4\"", text, StringComparison.Ordinal);
        Assert.Contains($"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-{FirstMsn}-2.mp4\"", text, StringComparison.Ordinal);
        Assert.Equal([9, 9], segmenter.GetInit(2));
    }

    [Fact]
    public void Playlist_HasTheLowLatencyTagsRfc8216bisAsks()
    {
        var segmenter = NewSegmenter();
        new Stream(segmenter).Frames(60 * 3 + 10);
        var text = Text(Get(segmenter));
        Assert.StartsWith("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n", text, StringComparison.Ordinal);
        Assert.Contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.660\n", text, StringComparison.Ordinal);
        Assert.Contains($"#EXT-X-MEDIA-SEQUENCE:{FirstMsn}\n", text, StringComparison.Ordinal);
        Assert.Equal(1, text.Split('\n').Count(l => l.StartsWith("#EXT-X-PRELOAD-HINT:", StringComparison.Ordinal)));
        var dates = text.Split('\n').Where(l => l.StartsWith("#EXT-X-PROGRAM-DATE-TIME:", StringComparison.Ordinal))
            .Select(l => DateTimeOffset.Parse(l[25..], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(4, dates.Count);
        Assert.True(dates.Zip(dates.Skip(1)).All(p => Math.Abs((p.Second - p.First).TotalSeconds - 2) < 0.01));
        // Parts only for the last two complete segments and the open one.
        Assert.DoesNotContain($"URI=\"{HlsNames.Part(FirstMsn, 0)}\"", text, StringComparison.Ordinal);
        Assert.Contains($"URI=\"{HlsNames.Part(FirstMsn + 1, 0)}\",INDEPENDENT=YES", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Multivariant_NamesTheMediaPlaylistWithCodecsAndBandwidth()
    {
        var text = Text(HlsPlaylistWriter.WriteMultivariant("avc1.42c01e", 500_000, 640, 480, 30));
        Assert.Equal("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.42c01e\",RESOLUTION=640x480,FRAME-RATE=30.000\nmedia.m3u8\n", text);
    }
}

/// <summary>fMP4 fragments for the HLS tests, written by the real <see cref="Fmp4Writer"/>.</summary>
internal static class HlsTestMedia
{
    public static byte[] Fragment(bool key, ulong decodeTime, uint duration, int payload, int sequence)
    {
        var au = new byte[5 + payload];
        au[3] = 1;
        au[4] = key ? (byte)0x65 : (byte)0x41;
        for (var i = 5; i < au.Length; i++)
        {
            au[i] = (byte)(sequence + i | 1);
        }

        var buffer = new byte[Fmp4Writer.GetMaxMediaSegmentSize(au.Length)];
        var written = Fmp4Writer.WriteMediaSegment(buffer, au, (uint)sequence + 1, decodeTime, duration, key);
        return buffer[..written];
    }
}
