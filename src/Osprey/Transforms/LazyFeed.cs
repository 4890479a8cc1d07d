using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Transforms;

/// <summary>
/// A derived feed whose work runs only while someone reads it: <see cref="RunAsync"/> starts when the output's
/// first reader attaches and is cancelled when the last leaves (the stale latched frame and cached group of
/// pictures are then dropped, so the next viewer starts fresh).
/// </summary>
/// <remarks>Owns the output feed and the run; the source feed belongs to the registry.</remarks>
public abstract partial class LazyFeed : IAsyncDisposable, ICounted
{
    private readonly Lock _lifecycle = new();
    private readonly ILogger _logger;
    private CancellationTokenSource? _running;
    private Task _runTask = Task.CompletedTask;
    private bool _disposed;
    private long _runs;

    /// <summary>Creates the derived feed; nothing runs until it has a reader.</summary>
    protected LazyFeed(Feed source, Feed output, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(output);
        Source = source;
        Output = output;
        _logger = logger;
        Output.ReaderCountChanged = OnOutputReadersChanged;
    }

    /// <summary>The feed worked from.</summary>
    public Feed Source { get; }

    /// <summary>The derived feed viewers read.</summary>
    public Feed Output { get; }

    /// <summary>True while someone watches the output.</summary>
    public bool IsRunning
    {
        get
        {
            lock (_lifecycle)
            {
                return _running is not null;
            }
        }
    }

    /// <summary>True while running; only for code under <see cref="UnderLifecycleLock"/>.</summary>
    protected bool IsRunningLocked => _running is not null;

    /// <summary>How many times the work was started: once per first viewer after none (an encoder's runs).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>What this view is, as <c>/api/feeds</c> names it (<c>jpegEncoder</c>, <c>h264Encoder</c>, ...).</summary>
    public abstract string PartName { get; }

    /// <summary>
    /// The view's counters: running or idle, why its output is in the state it is (an encoder's last error), and
    /// what <see cref="AddCounters"/> adds.
    /// </summary>
    public PartCounters ReadCounters()
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["viewers"] = Output.ReaderCount,
            ["frames"] = Output.Frames,
            ["runs"] = Runs,
        };
        AddCounters(counters);
        return new PartCounters(PartName, IsRunning ? "running" : "idle", Output.StateDetail, counters);
    }

    /// <summary>Adds the view's own counters to <paramref name="counters"/>.</summary>
    protected virtual void AddCounters(Dictionary<string, long> counters)
    {
    }

    /// <summary>Readers this view holds on <see cref="Source"/> while it runs (they are not viewers).</summary>
    public virtual int SourceReaders => 1;

    /// <summary>Does the work until <paramref name="cancellationToken"/> is cancelled (the last reader left).</summary>
    protected abstract Task RunAsync(CancellationToken cancellationToken);

    /// <summary>Runs under the lifecycle lock when a run is stopped, before the output is cleared.</summary>
    protected virtual void OnStopping()
    {
    }

    /// <summary>Runs <paramref name="action"/> under the lifecycle lock, so that it cannot interleave with a stop.</summary>
    protected void UnderLifecycleLock<TState>(TState state, Action<TState> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        lock (_lifecycle)
        {
            action(state);
        }
    }

    private void OnOutputReadersChanged(Feed output, int readers)
    {
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }

            if (readers > 0 && _running is null)
            {
                _running = new CancellationTokenSource();
                Interlocked.Increment(ref _runs);
                var previous = _runTask;
                var token = _running.Token;
                // A previous run may still be finishing; the new one starts after it.
                _runTask = Task.Run(async () =>
                {
                    await previous;
                    try
                    {
                        await RunAsync(token);
                    }
                    catch (OperationCanceledException) when (token.IsCancellationRequested)
                    {
                    }
                    catch (Exception ex)
                    {
                        Log.RunFailed(_logger, Output.Name, ex);
                        Output.SetState(FeedState.Restarting, ex.Message);
                    }
                });
                Log.Started(_logger, Output.Name);
            }
            else if (readers == 0 && _running is not null)
            {
                _running.Cancel();
                _running.Dispose();
                _running = null;
                OnStopping();
                Output.ClearLatest();
                Log.Stopped(_logger, Output.Name);
            }
        }
    }

    /// <summary>Stops the work and ends the output feed.</summary>
    public async ValueTask DisposeAsync()
    {
        Task run;
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _running?.Cancel();
            _running?.Dispose();
            _running = null;
            run = _runTask;
        }

        await run;
        Output.Dispose();
        GC.SuppressFinalize(this);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ViewStarted, LogLevel.Debug, "Derived feed {Feed}: started for its first viewer")]
        public static partial void Started(ILogger logger, string feed);

        [LoggerMessage(LogEvents.ViewStopped, LogLevel.Debug, "Derived feed {Feed}: stopped after its last viewer")]
        public static partial void Stopped(ILogger logger, string feed);

        [LoggerMessage(LogEvents.ViewRunFailed, LogLevel.Warning, "Derived feed {Feed}: its work failed; it restarts with the next viewer")]
        public static partial void RunFailed(ILogger logger, string feed, Exception exception);
    }
}
