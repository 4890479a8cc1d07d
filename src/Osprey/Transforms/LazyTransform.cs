using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// A derived feed computed from a source feed once per frame for all its viewers (raw → JPEG, JPEG → raw),
/// and only while someone watches: it starts when the derived feed's first reader comes and stops when the
/// last leaves.
/// </summary>
/// <remarks>
/// <para>Latest-frame semantics: when the work is slower than the source, the newest frame is taken and the
/// ones in between are counted as skipped. With several workers (for pictures one core cannot keep up with),
/// each waits on its own reader of the source and claims a frame by its sequence number, so no frame is done
/// twice; a result is published only if nothing newer was published first, so the output never goes back in
/// time.</para>
/// <para>Ownership: the transform owns its output feed and its workers' state (encoders); the source feed is
/// the registry's.</para>
/// </remarks>
/// <typeparam name="TWorker">Per-worker state, e.g. a codec handle (not thread-safe, so one per worker).</typeparam>
public abstract partial class LazyTransform<TWorker> : IAsyncDisposable
    where TWorker : class, IDisposable
{
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private CancellationTokenSource? _running;
    private Task _runTask = Task.CompletedTask;
    private long _lastClaimed;
    private long _lastPublished;
    private long _processed;
    private long _skipped;
    private long _failed;
    private bool _disposed;

    /// <summary>Creates the transform; nothing runs until the output feed has a reader.</summary>
    protected LazyTransform(Feed source, string outputName, int workers, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Source = source;
        Workers = workers;
        _logger = logger;
        Output = new Feed(outputName) { SourceUri = source.SourceUri };
        Output.ReaderCountChanged = OnOutputReadersChanged;
    }

    /// <summary>The feed transformed.</summary>
    public Feed Source { get; }

    /// <summary>The derived feed viewers read.</summary>
    public Feed Output { get; }

    /// <summary>Workers run in parallel while the transform runs.</summary>
    public int Workers { get; }

    /// <summary>True while someone watches the output.</summary>
    public bool IsRunning
    {
        get
        {
            lock (_lock)
            {
                return _running is not null;
            }
        }
    }

    /// <summary>Source frames transformed (once each, whatever the number of viewers).</summary>
    public long ProcessedFrames => Interlocked.Read(ref _processed);

    /// <summary>Source frames not transformed because a newer one was already there.</summary>
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    /// <summary>Source frames the transform could not process (bad input: a corrupt JPEG, say).</summary>
    public long FailedFrames => Interlocked.Read(ref _failed);

    /// <summary>Makes one worker's state.</summary>
    protected abstract TWorker CreateWorker();

    /// <summary>What the output carries for a source of <paramref name="source"/>.</summary>
    protected abstract VideoInfo DescribeOutput(VideoInfo source);

    /// <summary>
    /// Transforms <paramref name="input"/> into a frame rented from <paramref name="output"/>'s pool. Returns
    /// null (and says why) when the input cannot be transformed; the frame is then counted as failed.
    /// </summary>
    protected abstract Frame? Transform(TWorker worker, Frame input, Feed output, out string? error);

    private void OnOutputReadersChanged(Feed output, int readers)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (readers > 0 && _running is null)
            {
                _running = new CancellationTokenSource();
                var previous = _runTask;
                var token = _running.Token;
                // A previous run may still be finishing its last frame; the new one starts after it.
                _runTask = Task.Run(async () =>
                {
                    await previous;
                    await RunAsync(token);
                });
                Log.Started(_logger, Output.Name, Workers);
            }
            else if (readers == 0 && _running is not null)
            {
                _running.Cancel();
                _running.Dispose();
                _running = null;
                // The latched result goes stale from now on: the next viewer waits for a fresh one.
                Output.ClearLatest();
                Log.Stopped(_logger, Output.Name, ProcessedFrames, SkippedFrames);
            }
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        Output.Info = DescribeOutput(Source.Info);
        var workers = new Task[Workers];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(() => WorkLoopAsync(cancellationToken), CancellationToken.None);
        }

        await Task.WhenAll(workers);
    }

    private async Task WorkLoopAsync(CancellationToken cancellationToken)
    {
        // Each worker reads the source on its own: a frame's signal wakes them all and one claims it.
        using var reader = Source.OpenReader(startAtLatest: true);
        using var registration = cancellationToken.UnsafeRegister(static state => ((FeedReader)state!).Close(), reader);
        using var worker = CreateWorker();
        while (await reader.WaitAsync())
        {
            if (!reader.TryTakeLatest(out Frame input))
            {
                continue;
            }

            using var lease = new FrameLease(input);
            if (!TryClaim(input.Sequence))
            {
                continue;
            }

            Frame? output;
            string? error;
            try
            {
                output = Transform(worker, input, Output, out error);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                output = null;
                error = ex.Message;
            }

            if (output is null)
            {
                Interlocked.Increment(ref _failed);
                Log.FrameFailed(_logger, Output.Name, input.Sequence, error ?? "unknown error");
                continue;
            }

            PublishInOrder(input.Sequence, output, cancellationToken);
        }
    }

    private bool TryClaim(long sequence)
    {
        lock (_lock)
        {
            if (sequence <= _lastClaimed)
            {
                return false; // another worker has it, or something newer
            }

            if (_lastClaimed > 0 && sequence > _lastClaimed + 1)
            {
                _skipped += sequence - _lastClaimed - 1;
            }

            _lastClaimed = sequence;
            return true;
        }
    }

    private void PublishInOrder(long sourceSequence, Frame output, CancellationToken run)
    {
        lock (_lock)
        {
            if (run.IsCancellationRequested)
            {
                // The last viewer left while this frame was in work: stopping cancels under this lock and
                // drops the latched result, so publishing now would latch a stale frame for the next viewer.
                output.Release();
                return;
            }

            if (sourceSequence < _lastPublished)
            {
                // A faster worker published a newer frame: this one would go back in time.
                _skipped++;
                output.Release();
                return;
            }

            _lastPublished = sourceSequence;
            _processed++;
            // Publish under our lock so that two workers cannot reorder between the check and the publish.
            Output.Publish(output);
        }
    }

    /// <summary>Stops the work and ends the output feed.</summary>
    public async ValueTask DisposeAsync()
    {
        Task run;
        lock (_lock)
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
        [LoggerMessage(200, LogLevel.Debug, "Derived feed {Feed}: started with {Workers} worker(s) for its first viewer")]
        public static partial void Started(ILogger logger, string feed, int workers);

        [LoggerMessage(201, LogLevel.Debug, "Derived feed {Feed}: stopped after its last viewer ({Processed} frames done, {Skipped} skipped)")]
        public static partial void Stopped(ILogger logger, string feed, long processed, long skipped);

        [LoggerMessage(202, LogLevel.Debug, "Derived feed {Feed}: source frame {Sequence} could not be transformed: {Error}")]
        public static partial void FrameFailed(ILogger logger, string feed, long sequence, string error);
    }
}

/// <summary>How many workers a transform gets.</summary>
public static class TransformWorkers
{
    /// <summary>One unless a frame is larger than 720p (one core cannot keep up), then the cores, 4 at most.</summary>
    public static int For(int width, int height) =>
        (long)width * height > 1280 * 720 ? Math.Clamp(Environment.ProcessorCount, 1, 4) : 1;
}
