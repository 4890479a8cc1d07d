using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Sources;

/// <summary>
/// Runs one source into its feed and restarts it with backoff when it fails, while the feed (and so every
/// viewer's connection) stays up: viewers see only a pause.
/// </summary>
/// <remarks>Owns the source's run; the feed is owned by the <see cref="FeedRegistry"/>.</remarks>
public sealed partial class SourceSupervisor : IAsyncDisposable
{
    /// <summary>A run at least this long counts as having stood, and resets the backoff.</summary>
    public static readonly TimeSpan StoodAfter = TimeSpan.FromSeconds(10);

    private readonly IFrameSource _source;
    private readonly Feed _feed;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Backoff _backoff = new();
    private readonly CancellationTokenSource _stopping = new();
    private CancellationTokenSource? _currentRun;
    private Task? _loop;
    private long _restarts;
    private int _disposed;

    /// <summary>The server's default frame timeout (<c>--source-timeout</c>).</summary>
    public static readonly TimeSpan DefaultFrameTimeout = TimeSpan.FromSeconds(10);

    private readonly TimeSpan _frameTimeout;

    /// <summary>Creates a supervisor of <paramref name="source"/> publishing into <paramref name="feed"/>.</summary>
    /// <param name="source">The source to run.</param>
    /// <param name="feed">Its feed.</param>
    /// <param name="logger">Where restarts are told.</param>
    /// <param name="time">The clock (tests give a manual one).</param>
    /// <param name="frameTimeout">
    /// How long a running source may publish nothing before it is restarted (the source's own
    /// <see cref="IFrameSource.FrameTimeout"/> wins); zero: never. Null: <see cref="DefaultFrameTimeout"/>.
    /// </param>
    public SourceSupervisor(IFrameSource source, Feed feed, ILogger logger, TimeProvider? time = null, TimeSpan? frameTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _feed = feed;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _frameTimeout = source.FrameTimeout ?? frameTimeout ?? DefaultFrameTimeout;
    }

    /// <summary>The frame timeout in force for this source (zero: none).</summary>
    public TimeSpan FrameTimeout => _frameTimeout;

    /// <summary>The supervised source.</summary>
    public IFrameSource Source => _source;

    /// <summary>How many times the source has been (re)started after its first start.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>Starts supervising.</summary>
    public void Start()
    {
        _feed.Info = _source.ExpectedInfo;
        _loop = Task.Run(RunLoopAsync);
    }

    /// <summary>Stops the current run of the source; it is started again at once (an operator's restart).</summary>
    public void Restart()
    {
        try
        {
            Volatile.Read(ref _currentRun)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended between the read and the cancel: it is restarting anyway.
        }
    }

    private async Task RunLoopAsync()
    {
        var stopping = _stopping.Token;
        var first = true;
        while (!stopping.IsCancellationRequested)
        {
            if (!first)
            {
                Interlocked.Increment(ref _restarts);
            }

            first = false;
            using var run = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            Volatile.Write(ref _currentRun, run);
            var started = _time.GetTimestamp();
            string reason;
            var hung = new HungFlag();
            using var watching = _frameTimeout > TimeSpan.Zero ? WatchFrames(run, hung) : null;
            try
            {
                Log.SourceStarting(_logger, _feed.Name, _source.Uri);
                _feed.SetState(FeedState.Starting);
                await _source.RunAsync(_feed, run.Token);
                reason = "the source ended";
            }
            catch (OperationCanceledException) when (run.IsCancellationRequested)
            {
                if (stopping.IsCancellationRequested)
                {
                    break;
                }

                if (hung.Value)
                {
                    // Not an operator's restart: the source stopped giving frames (a stopped or wedged ffmpeg, a
                    // camera that went silent). It failed, and is restarted with backoff like any failure.
                    reason = $"no frame for {_frameTimeout.TotalSeconds:0.#} s (the source hung)";
                    Log.SourceHung(_logger, _feed.Name, _source.Uri, _frameTimeout.TotalSeconds);
                    goto restart;
                }

                // An operator's restart: go again at once, without backoff.
                Log.SourceRestartRequested(_logger, _feed.Name);
                continue;
            }
            catch (Exception ex) when (hung.Value)
            {
                // Killing a hung child can surface as a pipe error rather than a cancellation: the hang is the cause.
                reason = $"no frame for {_frameTimeout.TotalSeconds:0.#} s (the source hung)";
                Log.SourceHung(_logger, _feed.Name, _source.Uri, _frameTimeout.TotalSeconds);
                Log.SourceFailed(_logger, _feed.Name, _source.Uri, ex);
            }
            catch (Exception ex)
            {
                reason = ex.Message;
                Log.SourceFailed(_logger, _feed.Name, _source.Uri, ex);
            }
            finally
            {
                Volatile.Write(ref _currentRun, null);
            }

        restart:
            if (stopping.IsCancellationRequested)
            {
                break;
            }

            if (_time.GetElapsedTime(started) >= StoodAfter)
            {
                _backoff.Reset();
            }

            var delay = _backoff.Next();
            _feed.SetState(FeedState.Restarting, $"{reason}; restarting in {delay.TotalSeconds:0} s");
            Log.SourceRestarting(_logger, _feed.Name, delay.TotalSeconds);
            try
            {
                await Task.Delay(delay, _time, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// A timer that cancels <paramref name="run"/> (and sets <paramref name="hung"/>) when the feed, once running,
    /// publishes no frame for the frame timeout. Only a running feed is judged: a source still starting, or
    /// waiting for a device, says so in its state and has not hung.
    /// </summary>
    private ITimer WatchFrames(CancellationTokenSource run, HungFlag hung)
    {
        var lastFrames = _feed.Frames;
        var lastChange = _time.GetTimestamp();
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_frameTimeout.TotalMilliseconds / 4, 50, 1000));
        return _time.CreateTimer(
            _ =>
            {
                var frames = _feed.Frames;
                if (frames != lastFrames || _feed.State != FeedState.Running)
                {
                    lastFrames = frames;
                    lastChange = _time.GetTimestamp();
                    return;
                }

                if (_time.GetElapsedTime(lastChange) >= _frameTimeout && !hung.Value)
                {
                    hung.Value = true;
                    try
                    {
                        run.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // the run ended meanwhile
                    }
                }
            },
            null,
            period,
            period);
    }

    private sealed class HungFlag
    {
        public volatile bool Value;
    }

    /// <summary>Stops the source and waits for its run to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.SourceStarting, LogLevel.Information, "Feed {Feed}: starting source {Uri}")]
        public static partial void SourceStarting(ILogger logger, string feed, string uri);

        [LoggerMessage(LogEvents.SourceFailed, LogLevel.Warning, "Feed {Feed}: source {Uri} failed")]
        public static partial void SourceFailed(ILogger logger, string feed, string uri, Exception exception);

        [LoggerMessage(LogEvents.SourceRestarting, LogLevel.Information, "Feed {Feed}: restarting the source in {Seconds} s; viewers stay connected")]
        public static partial void SourceRestarting(ILogger logger, string feed, double seconds);

        [LoggerMessage(LogEvents.SourceHung, LogLevel.Warning, "Feed {Feed}: source {Uri} gave no frame for {Seconds} s: restarting it")]
        public static partial void SourceHung(ILogger logger, string feed, string uri, double seconds);

        [LoggerMessage(LogEvents.SourceRestartRequested, LogLevel.Information, "Feed {Feed}: restart requested")]
        public static partial void SourceRestartRequested(ILogger logger, string feed);
    }
}
