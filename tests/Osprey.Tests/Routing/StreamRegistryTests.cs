using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Routing;
using Osprey.Tests.Containers.MpegTs;

namespace Osprey.Tests.Routing;

/// <summary>vw's streams: feeds combined into one MPEG-TS programme, re-wired and resolved by name.</summary>
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
