using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Routing;
using Osprey.Tests.Containers.MpegTs;

namespace Osprey.Tests.Routing;

/// <summary>vw's streams: feeds combined into one MPEG-TS programme, re-wired and resolved by name.</summary>
[Collection(ProcessCountersCollection.Name)]
public sealed class StreamRegistryTests
{
    private static readonly VideoInfo s_mpegTs = new(MediaFormat.MpegTs, 0, 0, 0);

    [Fact]
    public async Task AStream_CombinesItsFeeds_IntoOneProgramme_CarryingEveryPacketOfEach()
    {
        await using var feeds = new FeedRegistry();
        await using var streams = new StreamRegistry(feeds, NullLoggerFactory.Instance);
        using var video = Claim(feeds, "video0");
        using var audio = Claim(feeds, "audio0");
        Assert.Equal("stream/front", streams.Set("/stream/front", ["video0", "audio0"]).Name);
        Assert.True(streams.TryGetStream("stream/front", out var stream));
        using var viewer = stream.Output.OpenOrderedReader(capacity: 4096);
        await RelayTesting.WaitUntilAsync(() => video.Feed.ReaderCount == 1 && audio.Feed.ReaderCount == 1, "the stream to read both feeds");

        var videoStream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        var audioStream = TsFixtures.Load(TsFixtures.Mp2);
        Publish(video.Feed, videoStream);
        Publish(audio.Feed, audioStream);
        var expectedVideo = PacketsOf(videoStream, 0x100);
        var expectedAudio = PacketsOf(audioStream, 0x100);

        // Slot 0 keeps its PID, slot 1 moves to 0x120; one combined programme replaces both inputs' tables.
        var output = new MemoryStream();
        await RelayTesting.WaitUntilAsync(
            () =>
            {
                while (viewer.TryDequeue(out var frame))
                {
                    using var lease = new FrameLease(frame);
                    output.Write(frame.Span);
                }

                return PacketsOf(output.ToArray(), 0x120).Count == expectedAudio.Count;
            },
            "the combined output to carry all the audio");
        var combined = output.ToArray();
        Assert.Equal(expectedVideo, PacketsOf(combined, 0x100));
        Assert.Equal(expectedAudio.Select(p => p[3..]), PacketsOf(combined, 0x120).Select(p => p[3..]));
        var check = new TsChunker();
        ChunkRecorder.Run(check, combined, combined.Length);
        Assert.Equal([(0x100, "mpeg2video"), (0x120, "mpegaudio")], check.Program!.Streams.Select(s => (s.Pid, s.Codec)));
        Assert.Equal(0, check.ContinuityErrors);
        Assert.Equal(0, stream.SkippedInputFrames);
    }

    [Fact]
    public async Task SetFeeds_WithNoInputs_ClearsTheOutput_SoANewViewerDoesNotStartOnAFrozenPicture()
    {
        await using var feeds = new FeedRegistry();
        await using var streams = new StreamRegistry(feeds, NullLoggerFactory.Instance);
        using var video = Claim(feeds, "video0");
        streams.Set("front", ["video0"]);
        Assert.True(streams.TryGetStream("front", out var stream));
        await RelayTesting.WaitUntilAsync(() => video.Feed.ReaderCount == 1, "the stream to read its feed");
        Publish(video.Feed, TsFixtures.Load(TsFixtures.Mpeg1Video));
        await RelayTesting.WaitUntilAsync(() => stream.Output.CachedGroupOfPicturesFrames > 0, "the output to cache a group of pictures");

        streams.Set("front", []);
        Assert.Empty(stream.FeedNames);
        Assert.Null(stream.Output.TakeLatest());
        Assert.Equal(0, stream.Output.CachedGroupOfPicturesFrames);
        await RelayTesting.WaitUntilAsync(() => stream.RunningInputs == 0 && video.Feed.ReaderCount == 0, "the input to stop");
        Assert.False(stream.Output.IsCompleted); // the stream stays, for its viewers and destinations
        Assert.Same(stream.Output, streams.ResolveFeedOrStream("front"));
    }

    [Fact]
    public async Task ResolveFeedOrStream_PrefersTheStream_OverAFeedOfTheSameName()
    {
        await using var feeds = new FeedRegistry();
        await using var streams = new StreamRegistry(feeds, NullLoggerFactory.Instance);
        using var sameName = Claim(feeds, "front");
        using var video = Claim(feeds, "video0");
        Assert.Same(sameName.Feed, streams.ResolveFeedOrStream("front"));

        streams.Set("front", ["video0"]);
        Assert.True(streams.TryGetStream("front", out var stream));
        Assert.Same(stream.Output, streams.ResolveFeedOrStream("front"));
        Assert.Same(stream.Output, streams.ResolveFeedOrStream("/front"));
        Assert.Same(video.Feed, streams.ResolveFeedOrStream("video0"));
        Assert.Null(streams.ResolveFeedOrStream("missing"));

        Assert.True(streams.Remove("front"));
        Assert.Same(sameName.Feed, streams.ResolveFeedOrStream("front"));
        await RelayTesting.WaitUntilAsync(() => stream.Output.IsCompleted && streams.ActivePumps == 0, "the removed stream to stop");
    }

    [Fact]
    public async Task StreamsOnMissingFeeds_WaitForTheFeedToBeAdded_WithoutATimerEach()
    {
        await using var feeds = new FeedRegistry();
        await using var streams = new StreamRegistry(feeds, NullLoggerFactory.Instance);
        var timersBefore = Timer.ActiveCount;
        for (var i = 0; i < 1000; i++)
        {
            streams.Set($"stream/{i}", [$"missing{i}"]);
        }

        await RelayTesting.WaitUntilAsync(() => streams.ActivePumps == 1000, "every input task to start");
        await Task.Delay(300);
        // Polling kept a 250 ms timer armed per waiting input: 1,000 here. Other tests running meanwhile add a few.
        Assert.True(Timer.ActiveCount - timersBefore < 200, $"{Timer.ActiveCount - timersBefore} timers for 1,000 inputs waiting");

        using var video = Claim(feeds, "missing500");
        await RelayTesting.WaitUntilAsync(() => video.Feed.ReaderCount == 1, "the stream to read the feed once it was added");
    }

    [Fact]
    public async Task StreamRulesFromClients_PastTheLimit_OrWithTooManyFeeds_AreRefusedAndCounted()
    {
        await using var feeds = new FeedRegistry();
        await using var streams = new StreamRegistry(feeds, NullLoggerFactory.Instance);
        for (var i = 0; i < StreamRegistry.DefaultMaxStreams; i++)
        {
            Assert.Equal(RuleRefusal.None, streams.TrySet($"stream/{i}", ["video0"]).Refusal);
        }

        var refused = streams.TrySet("stream/one-more", ["video0"]);
        Assert.Equal(RuleRefusal.Limit, refused.Refusal);
        Assert.Contains("--max-streams", refused.Error, StringComparison.Ordinal);
        Assert.Equal(RuleRefusal.None, streams.TrySet("stream/3", ["video0", "audio0"]).Refusal); // re-wiring is not a new rule
        Assert.Equal(RuleRefusal.Invalid, streams.TrySet("stream/3", [.. Enumerable.Range(0, 17).Select(i => $"f{i}")]).Refusal);
        Assert.Equal(2, streams.Refused);
        Assert.Equal(StreamRegistry.DefaultMaxStreams, streams.Streams.Count);
    }

    private static PublisherClaim Claim(FeedRegistry feeds, string name) =>
        feeds.TryClaimPublisher(name, s_mpegTs, "test", out var error, out _) ?? throw new InvalidOperationException(error);

    private static void Publish(Feed feed, byte[] stream)
    {
        var writer = new MpegTsFeedWriter(feed);
        writer.Write(stream);
        writer.Flush();
    }

    private static List<byte[]> PacketsOf(byte[] stream, int pid) =>
        [.. TsFixtures.Packets(stream).Where(p => TsPacket.GetPid(p) == pid)];
}
