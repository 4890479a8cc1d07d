using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

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
public abstract partial class LazyTransform<TWorker> : LazyFeed
    where TWorker : class, IDisposable
{
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private long _lastClaimed;
    private long _lastPublished;
    private long _processed;
    private long _skipped;
    private long _failed;

    /// <summary>Creates the transform; nothing runs until the output feed has a reader.</summary>
    protected LazyTransform(Feed source, string outputName, int workers, ILogger logger)
        : base(source, new Feed(outputName) { SourceUri = source?.SourceUri }, logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Workers = workers;
        _logger = logger;
    }

    /// <summary>Workers run in parallel while the transform runs.</summary>
    public int Workers { get; }

    /// <inheritdoc />
    public override int SourceReaders => Workers;

    /// <summary>Source frames transformed (once each, whatever the number of viewers).</summary>
    public long ProcessedFrames => Interlocked.Read(ref _processed);

    /// <summary>Source frames not transformed because a newer one was already there.</summary>
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    /// <summary>Source frames the transform could not process (bad input: a corrupt JPEG, say).</summary>
    public long FailedFrames => Interlocked.Read(ref _failed);

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["processedFrames"] = ProcessedFrames;
        counters["skippedFrames"] = SkippedFrames;
        counters["failedFrames"] = FailedFrames;
        counters["workers"] = Workers;
    }

    /// <summary>Makes one worker's state.</summary>
    protected abstract TWorker CreateWorker();

    /// <summary>What the output carries for a source of <paramref name="source"/>.</summary>
    protected abstract VideoInfo DescribeOutput(VideoInfo source);

    /// <summary>
    /// Transforms <paramref name="input"/> into a frame rented from <paramref name="output"/>'s pool. Returns
    /// null (and says why) when the input cannot be transformed; the frame is then counted as failed.
    /// </summary>
    protected abstract Frame? Transform(TWorker worker, Frame input, Feed output, out string? error);

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
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

    private void PublishInOrder(long sourceSequence, Frame output, CancellationToken run) =>
        // Under the lifecycle lock: a stop cancels the run and drops the latched result under the same lock, so a
        // frame finished after the last viewer left can never be latched stale for the next one.
        UnderLifecycleLock((Transform: this, Sequence: sourceSequence, Output: output, Run: run), static s => s.Transform.PublishLocked(s.Sequence, s.Output, s.Run));

    private void PublishLocked(long sourceSequence, Frame output, CancellationToken run)
    {
        lock (_lock)
        {
            if (run.IsCancellationRequested)
            {
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

    private static partial class Log
    {
        [LoggerMessage(LogEvents.TransformFrameFailed, LogLevel.Debug, "Derived feed {Feed}: source frame {Sequence} could not be transformed: {Error}")]
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
