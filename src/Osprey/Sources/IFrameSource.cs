using Osprey.Feeds;

namespace Osprey.Sources;

/// <summary>Produces frames into a feed: a test pattern, a camera, a child process, a network peer.</summary>
public interface IFrameSource
{
    /// <summary>The URI the source was made from, as shown by the API.</summary>
    string Uri { get; }

    /// <summary>What the source expects to produce, before it runs (the driver may still change it).</summary>
    VideoInfo ExpectedInfo { get; }

    /// <summary>
    /// This source's own frame timeout (a URI option), overriding the server's: how long a running source may
    /// publish nothing before its supervisor restarts it. Null: the server's; zero: never.
    /// </summary>
    TimeSpan? FrameTimeout => null;

    /// <summary>
    /// Produces frames into <paramref name="feed"/> until <paramref name="cancellationToken"/> is cancelled.
    /// Throwing (or returning) means the source failed; its supervisor restarts it with backoff.
    /// </summary>
    Task RunAsync(Feed feed, CancellationToken cancellationToken);
}
