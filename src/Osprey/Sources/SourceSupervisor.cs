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

    /// <summary>Creates a supervisor of <paramref name="source"/> publishing into <paramref name="feed"/>.</summary>
    public SourceSupervisor(IFrameSource source, Feed feed, ILogger logger, TimeProvider? time = null)
    {
        _source = source;
        _feed = feed;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

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

                // An operator's restart: go again at once, without backoff.
                Log.SourceRestartRequested(_logger, _feed.Name);
                continue;
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

        [LoggerMessage(LogEvents.SourceRestartRequested, LogLevel.Information, "Feed {Feed}: restart requested")]
        public static partial void SourceRestartRequested(ILogger logger, string feed);
    }
}
