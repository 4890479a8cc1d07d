using Osprey.Containers.Hls;
using Osprey.Containers.Mp4;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Server.Outputs.Hls;

/// <summary>
/// One feed's HLS: reads the feed's fMP4 view (every fragment, in order), cuts it with an <see cref="HlsSegmenter"/>
/// and wakes the requests that wait for a part or a playlist. Made on the first request, once for every viewer and
/// every edge cache, and stopped by <see cref="HlsStreams"/> when no request came for a grace period.
/// </summary>
internal sealed partial class HlsStream : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly HlsSegmenter _segmenter;
    private readonly OrderedFeedReader _reader;
    private readonly ILogger _logger;
    private readonly Task _run;
    private readonly long _started = TimeProvider.System.GetTimestamp();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastRequest = TimeProvider.System.GetTimestamp();
    private byte[]? _multivariant;
    private long _badFragments;
    private long _peakBitsPerSecond;

    public HlsStream(string name, Feed fmp4, HlsSettings settings, ILogger logger)
    {
        Name = name;
        View = fmp4;
        _logger = logger;
        // The Unix time in seconds: larger than any earlier stream's last media sequence number (segments are a
        // second or longer), so no URL an edge cached for a stopped stream names other bytes now.
        _segmenter = new HlsSegmenter(settings, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        // Bounded in frames and bytes; a reader that falls behind skips to the next key frame.
        _reader = fmp4.OpenOrderedReader(capacity: 240, maxBytes: 16L << 20);
        Log.Started(_logger, name, _segmenter.StreamId);
        _run = Task.Run(RunAsync);
    }

    public string Name { get; }

    /// <summary>The fMP4 view it reads.</summary>
    public Feed View { get; }

    public HlsSettings Settings => _segmenter.Settings;

    public HlsCounters Counters { get; } = new();

    /// <summary>Time since the last request, for the grace period.</summary>
    public TimeSpan Idle => TimeProvider.System.GetElapsedTime(Interlocked.Read(ref _lastRequest));

    public bool IsStopped => _reader.IsClosed;

    public void Touch() => Interlocked.Exchange(ref _lastRequest, TimeProvider.System.GetTimestamp());

    /// <summary>Runs <paramref name="read"/> under the stream's lock (the segmenter is single-threaded).</summary>
    public T Read<T>(Func<HlsSegmenter, T> read)
    {
        lock (_lock)
        {
            return read(_segmenter);
        }
    }

    /// <summary>A task that completes at the next change (a part, a segment) or when the stream stops.</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _reader.IsClosed ? Task.CompletedTask : _changed.Task;
            }
        }
    }

    /// <summary>The multivariant playlist, written once the first segment says how large the stream is.</summary>
    public byte[]? GetMultivariant()
    {
        lock (_lock)
        {
            if (_multivariant is null && _segmenter.HasPlaylist && View.Header is { } header)
            {
                var codecs = CodecsOf(header.MimeType);
                var info = View.Info;
                // Twice the first segments' peak rate: BANDWIDTH is a peak, and players only compare it between variants.
                _multivariant = HlsPlaylistWriter.WriteMultivariant(codecs, Math.Max(100_000, 2 * _peakBitsPerSecond), info.Width, info.Height, info.Fps);
            }

            return _multivariant;
        }
    }

    public long BadFragments => Interlocked.Read(ref _badFragments);

    private static string CodecsOf(string mime)
    {
        var at = mime.IndexOf("codecs=\"", StringComparison.Ordinal);
        if (at < 0)
        {
            return "avc1.42e01f";
        }

        var end = mime.IndexOf('"', at + 8);
        return end > at + 8 ? mime[(at + 8)..end] : "avc1.42e01f";
    }

    private async Task RunAsync()
    {
        var initVersion = -1;
        try
        {
            while (await _reader.WaitAsync())
            {
                while (_reader.TryDequeue(out var frame))
                {
                    using var lease = new FrameLease(frame);
                    if (View.Header is not { } header || header.Version != frame.HeaderVersion)
                    {
                        continue; // a fragment of a header no longer known: the next key frame brings the new one
                    }

                    if (!Fmp4FragmentReader.TryRead(frame.Span, out var info))
                    {
                        Interlocked.Increment(ref _badFragments);
                        Log.BadFragment(_logger, Name, _segmenter.StreamId);
                        continue;
                    }

                    bool changed;
                    lock (_lock)
                    {
                        if (header.Version != initVersion)
                        {
                            _segmenter.SetInit(header.Version, header.InitSegment.Span);
                            initVersion = header.Version;
                        }

                        var made = _segmenter.SegmentsMade;
                        changed = _segmenter.Add(frame.Span, (long)info.Duration, info.StartsWithSyncSample || frame.IsKeyFrame, frame.CaptureTimeMicros, header.Version);
                        if (_segmenter.SegmentsMade != made)
                        {
                            var last = _segmenter.Segments.LastOrDefault(s => s.IsComplete);
                            if (last is { Duration: > 0 })
                            {
                                _peakBitsPerSecond = Math.Max(_peakBitsPerSecond, last.Bytes * 8 * _segmenter.Settings.Timescale / last.Duration);
                            }
                        }

                        if (changed)
                        {
                            var woken = _changed;
                            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                            woken.TrySetResult();
                        }
                    }
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _changed.TrySetResult();
            }
        }
    }

    /// <summary>Stops reading (the fMP4 view stops when no one else reads it) and wakes every waiting request.</summary>
    public async ValueTask DisposeAsync()
    {
        _reader.Close();
        await _run.ConfigureAwait(false);
        long parts;
        long segments;
        lock (_lock)
        {
            parts = _segmenter.PartsMade;
            segments = _segmenter.SegmentsMade;
        }

        Log.Stopped(_logger, Name, _segmenter.StreamId, (int)Idle.TotalSeconds, parts, segments);
    }

    /// <summary>Seconds the stream ran.</summary>
    public double Uptime => TimeProvider.System.GetElapsedTime(_started).TotalSeconds;

    private static partial class Log
    {
        [LoggerMessage(LogEvents.HlsStreamStarted, LogLevel.Information, "Feed {Feed}: HLS stream {Stream} started")]
        public static partial void Started(ILogger logger, string feed, long stream);

        [LoggerMessage(LogEvents.HlsStreamStopped, LogLevel.Information, "Feed {Feed}: HLS stream {Stream} stopped after {Seconds} s without a request ({Parts} parts, {Segments} segments)")]
        public static partial void Stopped(ILogger logger, string feed, long stream, int seconds, long parts, long segments);

        [LoggerMessage(LogEvents.HlsBadFragment, LogLevel.Warning, "Feed {Feed}: HLS stream {Stream} dropped a fragment it could not read")]
        public static partial void BadFragment(ILogger logger, string feed, long stream);
    }
}

/// <summary>Requests an HLS stream answered, by kind: what an edge's coalescing is measured by.</summary>
internal sealed class HlsCounters
{
    private long _multivariant;
    private long _playlists;
    private long _blockingPlaylists;
    private long _parts;
    private long _segments;
    private long _inits;
    private long _refused;
    private long _timedOut;

    public long Multivariant => Interlocked.Read(ref _multivariant);

    public long Playlists => Interlocked.Read(ref _playlists);

    public long BlockingPlaylists => Interlocked.Read(ref _blockingPlaylists);

    public long Parts => Interlocked.Read(ref _parts);

    public long Segments => Interlocked.Read(ref _segments);

    public long Inits => Interlocked.Read(ref _inits);

    public long Refused => Interlocked.Read(ref _refused);

    public long TimedOut => Interlocked.Read(ref _timedOut);

    public void CountMultivariant() => Interlocked.Increment(ref _multivariant);

    public void CountPlaylist(bool blocking) => Interlocked.Increment(ref blocking ? ref _blockingPlaylists : ref _playlists);

    public void CountPart() => Interlocked.Increment(ref _parts);

    public void CountSegment() => Interlocked.Increment(ref _segments);

    public void CountInit() => Interlocked.Increment(ref _inits);

    public void CountRefused() => Interlocked.Increment(ref _refused);

    public void CountTimedOut() => Interlocked.Increment(ref _timedOut);
}
