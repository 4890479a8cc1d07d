using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Tests.Feeds;

public class PublisherClaimTests
{
    private static readonly VideoInfo s_ts = new(MediaFormat.MpegTs, 0, 0, 0);

    [Fact]
    public async Task OnePublisherPerFeed_TheFeedOutlivesIt_AndTheNextPublisherGetsTheSameFeed()
    {
        await using var registry = new FeedRegistry();
        using var first = registry.TryClaimPublisher("video0", s_ts, "a", out var error, out _);
        Assert.NotNull(first);
        Assert.Null(error);
        Assert.True(first.Feed.KeepGroupOfPictures);
        Assert.Equal(FeedRegistry.StreamGroupOfPicturesFrames, first.Feed.MaxGroupOfPicturesFrames);

        Assert.Null(registry.TryClaimPublisher("video0", s_ts, "b", out error, out var refusal));
        Assert.Equal(ClaimRefusal.Taken, refusal);
        Assert.Contains("already has a publisher (a)", error, StringComparison.Ordinal);

        using var reader = first.Feed.OpenOrderedReader();
        first.Dispose();
        first.Dispose(); // idempotent
        Assert.Equal(FeedState.Waiting, first.Feed.State);
        Assert.False(registry.HasPublisher("video0"));
        Assert.False(reader.IsClosed);

        using var second = registry.TryClaimPublisher("video0", s_ts, "b", out _, out _);
        Assert.Same(first.Feed, second!.Feed);
        Assert.Single(registry.Feeds);
    }

    [Fact]
    public async Task InvalidNames_AreRefusedWithoutAConflict_AndConcurrentFirstClaimsMakeOneFeed()
    {
        await using var registry = new FeedRegistry();
        Assert.Null(registry.TryClaimPublisher("bad name", s_ts, "a", out var error, out var refusal));
        Assert.Equal(ClaimRefusal.InvalidName, refusal);
        Assert.NotNull(error);

        var claims = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => registry.TryClaimPublisher("race", s_ts, $"p{i}", out _, out _))));
        Assert.Single(claims, c => c is not null);
        Assert.Single(registry.Feeds);
    }

    [Fact]
    public async Task NamesEndingInAViewSuffix_OrHeldByASource_AreRefusedAsShadowing()
    {
        await using var registry = new FeedRegistry { ReservedLastSegments = new HashSet<string>(["raw", "ts"], StringComparer.Ordinal) };
        registry.AddOwnedFeed("cam", "testpattern:", s_ts);
        foreach (var name in new[] { "test/raw", "a/b/ts", "cam" })
        {
            Assert.Null(registry.TryClaimPublisher(name, s_ts, "a", out var error, out var refusal));
            Assert.Equal(ClaimRefusal.Shadowing, refusal);
            Assert.Contains("name it otherwise", error, StringComparison.Ordinal);
        }

        // A suffix alone, or inside a name, shadows nothing.
        using var raw = registry.TryClaimPublisher("raw", s_ts, "a", out _, out _);
        using var inside = registry.TryClaimPublisher("raw/x", s_ts, "a", out _, out _);
        Assert.NotNull(raw);
        Assert.NotNull(inside);
    }
}
