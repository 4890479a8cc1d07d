using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Tests.Feeds;

/// <summary>Feeds made from publishers' names are bounded (issue 13, item 4): a limit, and removal once unused.</summary>
public class PublisherFeedBoundsTests
{
    private static readonly VideoInfo s_ts = new(MediaFormat.MpegTs, 0, 0, 0);

    [Fact]
    public async Task PublishersOfNewNames_PastTheDefaultLimit_AreRefusedAndCounted_WhileKnownNamesStillPublish()
    {
        await using var registry = new FeedRegistry();
        registry.AddOwnedFeed("cam", "testpattern:", s_ts);
        for (var i = 0; i < FeedRegistry.DefaultMaxPublisherFeeds; i++)
        {
            using var claim = registry.TryClaimPublisher($"feed{i}", s_ts, "p", out var error, out _);
            Assert.True(claim is not null, error);
        }

        Assert.Null(registry.TryClaimPublisher("one-too-many", s_ts, "p", out var refused, out var refusal));
        Assert.Equal(ClaimRefusal.Limit, refusal);
        Assert.Contains("--max-feeds", refused, StringComparison.Ordinal);
        Assert.Equal(1, registry.RefusedFeeds);
        Assert.Equal(FeedRegistry.DefaultMaxPublisherFeeds, registry.PublisherFeeds);

        using var again = registry.TryClaimPublisher("feed7", s_ts, "p", out _, out _);
        Assert.NotNull(again);
    }

    [Fact]
    public async Task APublisherFeedWithNeitherPublisherNorReader_IsRemovedAfterTheGracePeriod_ItsFramesBackInThePool()
    {
        var time = new ManualTimeProvider();
        await using var registry = new FeedRegistry(time);
        var claim = registry.TryClaimPublisher("gone", s_ts, "p", out _, out _)!;
        var kept = registry.TryClaimPublisher("watched", s_ts, "p", out _, out _)!;
        var feed = claim.Feed;
        var frame = feed.Pool.Rent(188);
        frame.GetWritableSpan(188)[0] = 0x47;
        frame.SetLength(188);
        feed.Publish(frame);
        Assert.Equal(1, feed.Pool.Outstanding);
        using var reader = kept.Feed.OpenReader();
        claim.Dispose();
        kept.Dispose();

        Advance(time, TimeSpan.FromSeconds(50));
        Assert.True(registry.TryGet("gone", out _), "removed before the grace period ended");

        Advance(time, TimeSpan.FromSeconds(20));
        Assert.False(registry.TryGet("gone", out _));
        Assert.True(feed.IsCompleted);
        Assert.Equal(0, feed.Pool.Outstanding);
        Assert.Equal(1, registry.RemovedFeeds);
        Assert.True(registry.TryGet("watched", out _), "a feed with a reader was removed");

        // The name is free again for the next publisher.
        using var next = registry.TryClaimPublisher("gone", s_ts, "p", out _, out _);
        Assert.NotNull(next);
        Assert.NotSame(feed, next.Feed);
    }

    [Fact]
    public async Task WaitingForAFeed_CompletesWhenItIsAdded_AndACancelledWaitLeavesNothingBehind()
    {
        await using var registry = new FeedRegistry();
        var waiting = registry.WaitForFeedAsync("later", CancellationToken.None);
        using (var cancel = new CancellationTokenSource())
        {
            var cancelled = registry.WaitForFeedAsync("never", cancel.Token);
            Assert.Equal(2, registry.WaitedNames);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        }

        Assert.False(waiting.IsCompleted);
        using var claim = registry.TryClaimPublisher("later", s_ts, "p", out _, out _);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, registry.WaitedNames);
    }

    private static void Advance(ManualTimeProvider time, TimeSpan by)
    {
        // In steps, so the registry's periodic sweep runs as it would on the real clock.
        for (var step = TimeSpan.Zero; step < by; step += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }
    }
}
