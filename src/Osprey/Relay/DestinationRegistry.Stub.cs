using Microsoft.Extensions.Logging;
using Osprey.Feeds;

namespace Osprey.Relay;

/// <summary>A destination rule.</summary>
public sealed record DestinationRule(string Id, string Stream, string Destination, string Token);

/// <summary>State.</summary>
public enum DestinationState
{
    /// <summary>Connecting.</summary>
    Connecting,

    /// <summary>Connected.</summary>
    Connected,

    /// <summary>Reconnecting.</summary>
    Reconnecting,

    /// <summary>Stopped.</summary>
    Stopped,
}

/// <summary>Status.</summary>
public sealed record DestinationStatus(string Id, string Stream, string Destination, DestinationState State, long BytesSent, long MessagesSent, long Drops, long Reconnects, string? LastError, double? RetryInSeconds);

/// <summary>Interim stub until the push client lands.</summary>
public sealed class DestinationRegistry : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DestinationRule> _rules = new(StringComparer.Ordinal);

    /// <summary>Creates.</summary>
    public DestinationRegistry(Func<string, Feed?> resolveFeed, Func<string, string?>? handleControl, ILoggerFactory loggers, TimeProvider? time = null)
    {
        _ = resolveFeed;
        _ = handleControl;
        _ = loggers;
        _ = time;
    }

    /// <summary>Sets.</summary>
    public DestinationRule Set(DestinationRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        lock (_lock)
        {
            _rules[rule.Id] = rule;
        }

        return rule;
    }

    /// <summary>Gets.</summary>
    public bool TryGet(string id, out DestinationRule rule)
    {
        lock (_lock)
        {
            return _rules.TryGetValue(id, out rule!);
        }
    }

    /// <summary>Rules.</summary>
    public IReadOnlyDictionary<string, DestinationRule> Rules
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, DestinationRule>(_rules);
            }
        }
    }

    /// <summary>Removes.</summary>
    public bool Remove(string id)
    {
        lock (_lock)
        {
            return _rules.Remove(id);
        }
    }

    /// <summary>Removes all.</summary>
    public int RemoveAll()
    {
        lock (_lock)
        {
            var count = _rules.Count;
            _rules.Clear();
            return count;
        }
    }

    /// <summary>Status.</summary>
    public IReadOnlyList<DestinationStatus> Status => [.. Rules.Values.Select(r => new DestinationStatus(r.Id, r.Stream, r.Destination, DestinationState.Stopped, 0, 0, 0, 0, "stub", null))];

    /// <summary>Active clients.</summary>
    public int ActiveClients => Rules.Count * 0;

    /// <summary>Disposes.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
