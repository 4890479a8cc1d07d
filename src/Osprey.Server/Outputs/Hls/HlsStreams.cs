using System.Collections.Concurrent;
using Osprey.Containers.Hls;
using Osprey.Feeds;

namespace Osprey.Server.Outputs.Hls;

/// <summary>
/// The running HLS streams, one per feed, made on the first request and stopped a grace period after the last;
/// capped in number (a request past the cap gets 503).
/// </summary>
internal sealed class HlsStreams : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, HlsStream> _streams = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private readonly Timer _sweeper;
    private bool _disposed;

    public HlsStreams(HlsSettings settings, TimeSpan grace, int maxStreams, ILoggerFactory loggerFactory)
    {
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.FromSeconds(1));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxStreams, 1);
        Settings = settings;
        Grace = grace;
        MaxStreams = maxStreams;
        _logger = loggerFactory.CreateLogger("Osprey.Hls");
        _sweeper = new Timer(_ => _ = SweepAsync(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public HlsSettings Settings { get; }

    public TimeSpan Grace { get; }

    public int MaxStreams { get; }

    /// <summary>Requests refused because <see cref="MaxStreams"/> streams were running.</summary>
    public long RefusedStreams { get; private set; }

    public ICollection<HlsStream> Running => _streams.Values;

    /// <summary>The running stream of <paramref name="name"/>, started on <paramref name="fmp4"/> if there is none; null past the cap or while stopping.</summary>
    public HlsStream? GetOrStart(string name, Feed fmp4)
    {
        if (_streams.TryGetValue(name, out var stream) && !stream.IsStopped && ReferenceEquals(stream.View, fmp4))
        {
            stream.Touch();
            return stream;
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            if (_streams.TryGetValue(name, out stream))
            {
                if (!stream.IsStopped && ReferenceEquals(stream.View, fmp4))
                {
                    stream.Touch();
                    return stream;
                }

                _streams.TryRemove(name, out _);
                _ = stream.DisposeAsync().AsTask();
            }

            if (_streams.Count >= MaxStreams)
            {
                RefusedStreams++;
                return null;
            }

            stream = new HlsStream(name, fmp4, Settings, _logger);
            _streams[name] = stream;
            return stream;
        }
    }

    private async Task SweepAsync()
    {
        List<HlsStream> idle = [];
        lock (_lock)
        {
            foreach (var (name, stream) in _streams)
            {
                if (stream.Idle > Grace)
                {
                    _streams.TryRemove(name, out _);
                    idle.Add(stream);
                }
            }
        }

        foreach (var stream in idle)
        {
            await stream.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<HlsStream> all;
        lock (_lock)
        {
            _disposed = true;
            all = [.. _streams.Values];
            _streams.Clear();
        }

        await _sweeper.DisposeAsync();
        foreach (var stream in all)
        {
            await stream.DisposeAsync();
        }
    }
}
