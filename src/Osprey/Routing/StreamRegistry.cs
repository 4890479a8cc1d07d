using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Routing;

/// <summary>
/// vw's streams: named combinations of feeds (<c>stream/front/large</c> = video0 + audio0), each served as one
/// MPEG-TS programme, re-wired at run time. Owns the combined streams; the feeds belong to the
/// <see cref="FeedRegistry"/>.
/// </summary>
/// <remarks>Thread-safe: the REST API, the WebSocket control API and viewers call in concurrently (vw crashed on
/// concurrent map access). Rules are kept in the order they were first added.</remarks>
public sealed partial class StreamRegistry : IAsyncDisposable
{
    private readonly FeedRegistry _feeds;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, CombinedStream> _streams = new(StringComparer.Ordinal);
    private readonly List<Task> _stopping = [];
    private bool _disposed;
    private long _refused;

    /// <summary>The default of <see cref="MaxStreams"/>.</summary>
    public const int DefaultMaxStreams = 64;

    /// <summary>The most feeds one stream combines (each is an input task and a slot of 32 PIDs in the programme).</summary>
    public const int MaxFeedsPerStream = 16;

    /// <summary>The most stream rules clients may make; a new name past it is refused (<see cref="RuleRefusal.Limit"/>).</summary>
    public int MaxStreams
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = DefaultMaxStreams;

    /// <summary>Rules refused (over a limit, too many feeds, a shadowing name).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Creates an empty registry over <paramref name="feeds"/>.</summary>
    public StreamRegistry(FeedRegistry feeds, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        ArgumentNullException.ThrowIfNull(loggers);
        _feeds = feeds;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Osprey.Routing");
    }

    /// <summary>vw strips one leading '/' from stream names (<c>/stream/front/large</c> is <c>stream/front/large</c>).</summary>
    public static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith('/') ? name[1..] : name;
    }

    /// <summary>Every stream rule: name → feeds, in the order the streams were first added.</summary>
    public IReadOnlyList<KeyValuePair<string, IReadOnlyList<string>>> Rules
    {
        get
        {
            lock (_lock)
            {
                return [.. _streams.Values.OrderBy(s => s.Order).Select(s => new KeyValuePair<string, IReadOnlyList<string>>(s.Name, s.FeedNames))];
            }
        }
    }

    /// <summary>The combined streams now, for status listings.</summary>
    public IReadOnlyList<CombinedStream> Streams
    {
        get
        {
            lock (_lock)
            {
                return [.. _streams.Values.OrderBy(s => s.Order)];
            }
        }
    }

    /// <summary>Streams whose combining tasks are still running, including ones removed and not yet stopped (for leak checks).</summary>
    public int ActivePumps
    {
        get
        {
            lock (_lock)
            {
                _stopping.RemoveAll(t => t.IsCompleted);
                return _streams.Values.Sum(s => s.RunningInputs) + _stopping.Count;
            }
        }
    }

    /// <summary>
    /// Adds the stream <paramref name="name"/> combining <paramref name="feeds"/>, or re-wires it if it exists (no
    /// interruption for its viewers: a feed left out simply stops appearing, as muting in vw's README). Feeds that
    /// do not exist yet are combined as soon as they appear.
    /// </summary>
    /// <returns>The stored name (leading '/' stripped) and feeds.</returns>
    /// <exception cref="InvalidOperationException">The rule is refused (see <see cref="TrySet"/>).</exception>
    public (string Name, IReadOnlyList<string> Feeds) Set(string name, IReadOnlyList<string> feeds)
    {
        var result = Store(name, feeds, fromClient: false);
        return result.Refusal == RuleRefusal.None ? (result.Name, result.Feeds) : throw new InvalidOperationException(result.Error);
    }

    /// <summary>
    /// <see cref="Set"/> for rules that come from clients: a name that would shadow another's URL (a view suffix, a
    /// configured source's name, see <see cref="FeedRegistry.ShadowedBy"/>) is refused instead of stored.
    /// </summary>
    public StreamSetResult TrySet(string name, IReadOnlyList<string> feeds) => Store(name, feeds, fromClient: true);

    private StreamSetResult Store(string name, IReadOnlyList<string> feeds, bool fromClient)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        name = NormalizeName(name ?? "");
        IReadOnlyList<string> list = [.. feeds];
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (list.Distinct(StringComparer.Ordinal).Count() > MaxFeedsPerStream)
            {
                return Refuse(name, list, RuleRefusal.Invalid, $"A stream combines at most {MaxFeedsPerStream} feeds, not {list.Count}.");
            }

            if (_streams.TryGetValue(name, out var existing))
            {
                existing.SetFeeds(list);
                Log.Rewired(_logger, name, string.Join(", ", list));
                return new StreamSetResult(name, list, RuleRefusal.None, null);
            }

            if (_feeds.ShadowedBy(name) is { } shadowed)
            {
                return Refuse(name, list, RuleRefusal.Shadowing, $"Stream name {shadowed}.");
            }

            if (fromClient && _streams.Count >= MaxStreams)
            {
                return Refuse(name, list, RuleRefusal.Limit, $"This server has {MaxStreams} streams already (--max-streams); delete one or re-POST an existing name.");
            }

            var order = _streams.Count == 0 ? 0 : _streams.Values.Max(s => s.Order) + 1;
            _streams[name] = new CombinedStream(name, list, _feeds, order, _loggers.CreateLogger("Osprey.Routing"));
            Log.Added(_logger, name, string.Join(", ", list));
        }

        return new StreamSetResult(name, list, RuleRefusal.None, null);
    }

    private StreamSetResult Refuse(string name, IReadOnlyList<string> feeds, RuleRefusal refusal, string error)
    {
        Interlocked.Increment(ref _refused);
        Log.Refused(_logger, name, error);
        return new StreamSetResult(name, feeds, refusal, error);
    }

    /// <summary>The feeds of stream <paramref name="name"/>.</summary>
    public bool TryGetFeeds(string name, out IReadOnlyList<string> feeds)
    {
        lock (_lock)
        {
            if (_streams.TryGetValue(NormalizeName(name), out var stream))
            {
                feeds = stream.FeedNames;
                return true;
            }
        }

        feeds = [];
        return false;
    }

    /// <summary>
    /// The feed a viewer or a destination of <paramref name="name"/> reads, as vw resolves names: the output of
    /// the vw stream of that name, else the feed of that name; null when there is neither.
    /// </summary>
    public Feed? ResolveFeedOrStream(string name) =>
        TryGetStream(name, out var stream) ? stream.Output
        : _feeds.TryGet(name, out var feed) ? feed
        : null;

    /// <summary>The combined stream <paramref name="name"/>, whose <see cref="CombinedStream.Output"/> viewers read.</summary>
    public bool TryGetStream(string name, out CombinedStream stream)
    {
        lock (_lock)
        {
            return _streams.TryGetValue(NormalizeName(name), out stream!);
        }
    }

    /// <summary>Removes stream <paramref name="name"/>: its viewers are closed, its destinations wait for it to come back.</summary>
    public bool Remove(string name)
    {
        lock (_lock)
        {
            if (!_streams.Remove(NormalizeName(name), out var stream))
            {
                return false;
            }

            _stopping.RemoveAll(t => t.IsCompleted);
            _stopping.Add(stream.DisposeAsync().AsTask());
            Log.Removed(_logger, stream.Name);
            return true;
        }
    }

    /// <summary>Removes every stream; returns how many there were.</summary>
    public int RemoveAll()
    {
        lock (_lock)
        {
            var count = _streams.Count;
            _stopping.RemoveAll(t => t.IsCompleted);
            foreach (var stream in _streams.Values)
            {
                _stopping.Add(stream.DisposeAsync().AsTask());
            }

            _streams.Clear();
            return count;
        }
    }

    /// <summary>Stops every stream.</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] stopping;
        lock (_lock)
        {
            _disposed = true;
            foreach (var stream in _streams.Values)
            {
                _stopping.Add(stream.DisposeAsync().AsTask());
            }

            _streams.Clear();
            stopping = [.. _stopping];
        }

        await Task.WhenAll(stopping);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.StreamAdded, LogLevel.Information, "Stream {Stream}: added with feeds [{Feeds}]")]
        public static partial void Added(ILogger logger, string stream, string feeds);

        [LoggerMessage(LogEvents.StreamRewired, LogLevel.Information, "Stream {Stream}: re-wired to feeds [{Feeds}]")]
        public static partial void Rewired(ILogger logger, string stream, string feeds);

        [LoggerMessage(LogEvents.StreamRemoved, LogLevel.Information, "Stream {Stream}: removed")]
        public static partial void Removed(ILogger logger, string stream);

        [LoggerMessage(LogEvents.StreamRefused, LogLevel.Warning, "Stream {Stream}: refused: {Reason}")]
        public static partial void Refused(ILogger logger, string stream, string reason);
    }
}
