using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;

namespace Osprey.Sources;

/// <summary>
/// The configured sources: each owns one feed of the <see cref="FeedRegistry"/> and runs under its own
/// <see cref="SourceSupervisor"/>. Disposing the host stops every source; the feeds stay for the registry to end.
/// </summary>
public sealed class SourceHost : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, SourceSupervisor> _supervisors = new(StringComparer.Ordinal);
    private readonly FeedRegistry _feeds;
    private readonly ILogger _logger;
    private int _disposed;

    /// <summary>Creates a host that adds its sources' feeds to <paramref name="feeds"/>.</summary>
    public SourceHost(FeedRegistry feeds, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _feeds = feeds;
        _logger = loggerFactory.CreateLogger("Osprey.Sources");
    }

    /// <summary>How long a running source may publish nothing before it is restarted (<c>--source-timeout</c>); zero: never. Set before adding sources.</summary>
    public TimeSpan FrameTimeout { get; init; } = SourceSupervisor.DefaultFrameTimeout;

    /// <summary>Adds a feed owned by <paramref name="source"/> and starts the source under supervision.</summary>
    /// <exception cref="ArgumentException">The name is not a valid feed name.</exception>
    /// <exception cref="InvalidOperationException">A feed of that name exists already, or the host is stopping.</exception>
    public Feed Add(string name, IFrameSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var feed = _feeds.AddOwnedFeed(name, source.Uri, source.ExpectedInfo);
        var supervisor = new SourceSupervisor(source, feed, _logger, _feeds.Time, FrameTimeout);
        _supervisors[name] = supervisor;
        supervisor.Start();
        return feed;
    }

    /// <summary>The supervisor of the source that owns <paramref name="name"/>, if a configured source does.</summary>
    public bool TryGetSupervisor(string name, out SourceSupervisor supervisor) => _supervisors.TryGetValue(name, out supervisor!);

    /// <summary>Stops every source.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var supervisor in _supervisors.Values)
        {
            await supervisor.DisposeAsync();
        }
    }
}
