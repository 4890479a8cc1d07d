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

    // Replace and remove stop a supervisor before the next change to the same name can start one.
    private readonly SemaphoreSlim _changes = new(1, 1);
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

    /// <summary>The names of the configured sources' feeds.</summary>
    public IReadOnlyCollection<string> Names => [.. _supervisors.Keys];

    /// <summary>The URI the source of <paramref name="name"/> runs, or null when no source owns that name.</summary>
    public string? UriOf(string name) => _supervisors.TryGetValue(name, out var supervisor) ? supervisor.Source.Uri : null;

    /// <summary>
    /// Runs <paramref name="source"/> in place of the source of <paramref name="name"/>: the old one stops, the feed
    /// and its viewers stay (they see a pause, then the new source's frames).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No source owns that name.</exception>
    public async Task ReplaceAsync(string name, IFrameSource source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        await _changes.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (!_supervisors.TryGetValue(name, out var old) || !_feeds.TryGet(name, out var feed))
            {
                throw new KeyNotFoundException($"No source owns feed '{name}'.");
            }

            await old.DisposeAsync();
            feed.SourceUri = source.Uri;
            var supervisor = new SourceSupervisor(source, feed, _logger, _feeds.Time, FrameTimeout);
            _supervisors[name] = supervisor;
            supervisor.Start();
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>Stops the source of <paramref name="name"/> and removes its feed (its viewers are closed).</summary>
    /// <returns>False when no source owns that name.</returns>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        await _changes.WaitAsync(cancellationToken);
        try
        {
            if (!_supervisors.TryRemove(name, out var supervisor))
            {
                return false;
            }

            await supervisor.DisposeAsync();
            _feeds.RemoveOwnedFeed(name);
            return true;
        }
        finally
        {
            _changes.Release();
        }
    }

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
