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

        Assert.Null(registry.TryClaimPublisher("video0", s_ts, "b", out error, out var conflict));
        Assert.True(conflict);
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
        Assert.Null(registry.TryClaimPublisher("bad name", s_ts, "a", out var error, out var conflict));
        Assert.False(conflict);
        Assert.NotNull(error);

        var claims = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => registry.TryClaimPublisher("race", s_ts, $"p{i}", out _, out _))));
        Assert.Single(claims, c => c is not null);
        Assert.Single(registry.Feeds);
    }
}
