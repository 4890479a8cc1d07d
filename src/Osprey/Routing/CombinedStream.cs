using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Routing;

/// <summary>
/// One vw stream: several MPEG-TS feeds (each from its own ffmpeg) combined into one programme on
/// <see cref="Output"/>. One task per input feed reads it in order and hands each chunk to the combiner, which
/// writes it once into the output for every viewer and destination of the stream.
/// </summary>
/// <remarks>
/// <para>Re-wiring (<see cref="SetFeeds"/>) starts and stops inputs without touching the others or the output
/// feed, so viewers and destinations of the stream carry on: muting is removing the audio feed.</para>
/// <para>Inputs are read with a deep ordered queue: a stream is a server-side consumer that should never skip;
/// if it still falls behind, it skips whole groups of pictures like any reader, and the skips are counted.</para>
/// </remarks>
public sealed partial class CombinedStream : IAsyncDisposable
{
    private const int InputQueueFrames = FeedRegistry.StreamGroupOfPicturesFrames;

    private readonly FeedRegistry _feeds;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Input> _inputs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposing = new();
    private readonly TsCombiner _combiner;
    private IReadOnlyList<string> _feedNames;
    private bool _disposed;

    internal CombinedStream(string name, IReadOnlyList<string> feeds, FeedRegistry registry, int order, ILogger logger)
    {
        Name = name;
        Order = order;
        _feeds = registry;
        _logger = logger;
        Output = new Feed(name.Length == 0 ? "(unnamed stream)" : name)
        {
            KeepGroupOfPictures = true,
            MaxGroupOfPicturesFrames = FeedRegistry.StreamGroupOfPicturesFrames,
            Info = new VideoInfo(MediaFormat.MpegTs, 0, 0, 0),
        };
        _combiner = new TsCombiner(Output);
        _feedNames = [];
        SetFeeds(feeds);
    }

    /// <summary>The stream's name, e.g. <c>stream/front/large</c>.</summary>
    public string Name { get; }

    /// <summary>The combined programme, read by viewers and destinations.</summary>
    public Feed Output { get; }

    /// <summary>The feeds combined, in the order given.</summary>
    public IReadOnlyList<string> FeedNames
    {
        get
        {
            lock (_lock)
            {
                return _feedNames;
            }
        }
    }

    /// <summary>Input chunks skipped because the stream fell behind an input (should stay 0).</summary>
    public long SkippedInputFrames
    {
        get
        {
            lock (_lock)
            {
                return _inputs.Values.Sum(i => i.Skipped + (i.Reader?.SkippedFrames ?? 0));
            }
        }
    }

    /// <summary>Input tasks running now.</summary>
    public int RunningInputs
    {
        get
        {
            lock (_lock)
            {
                return _inputs.Values.Count(i => !i.Task.IsCompleted);
            }
        }
    }

    internal int Order { get; }

    /// <summary>Re-wires the stream to <paramref name="feeds"/>: inputs no longer listed stop, new ones start.</summary>
    public void SetFeeds(IReadOnlyList<string> feeds)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var wanted = feeds.Distinct(StringComparer.Ordinal).ToList();
            foreach (var (name, input) in _inputs.ToList())
            {
                if (!wanted.Contains(name))
                {
                    _inputs.Remove(name);
                    input.Stop.Cancel();
                }
            }

            foreach (var name in wanted)
            {
                if (!_inputs.ContainsKey(name))
                {
                    var input = new Input(name, CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token));
                    _inputs[name] = input;
                    input.Task = Task.Run(() => PumpAsync(input));
                }
            }

            _feedNames = [.. feeds];
            _combiner.SetInputs(wanted);
            if (wanted.Count == 0)
            {
                // Nothing feeds the stream any more: a new viewer must not start with the last group of pictures,
                // a frozen picture that looks live. Viewers already attached stay and get whatever comes next.
                Output.ClearLatest();
            }
        }
    }

    private async Task PumpAsync(Input input)
    {
        var stop = input.Stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (!_feeds.TryGet(input.Name, out var feed) || feed.IsCompleted)
                {
                    // Woken by the registry when a feed of that name is added: thousands of rules on missing
                    // feeds cost nothing while they wait (polling them cost a share of a core).
                    await _feeds.WaitForFeedAsync(input.Name, stop);
                    continue;
                }

                using var reader = feed.OpenOrderedReader(InputQueueFrames);
                lock (_lock)
                {
                    input.Reader = reader; // its skips show live in SkippedInputFrames
                }

                feed.LatestCleared += OnInputCleared;
                try
                {
                    using (stop.UnsafeRegister(static state => ((OrderedFeedReader)state!).Close(), reader))
                    {
                        while (await reader.WaitAsync())
                        {
                            while (reader.TryDequeue(out var frame))
                            {
                                using var lease = new FrameLease(frame);
                                lock (_lock)
                                {
                                    if (input.Stop.IsCancellationRequested)
                                    {
                                        break;
                                    }

                                    _combiner.Write(input.Name, feed, frame);
                                }
                            }
                        }

                        lock (_lock)
                        {
                            input.Skipped += reader.SkippedFrames;
                            input.Reader = null;
                        }
                    }
                }
                finally
                {
                    feed.LatestCleared -= OnInputCleared;
                }

                // The feed ended (removed, or the server stopping): the loop waits for the next one of that name.
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.InputFailed(_logger, Name, input.Name, ex);
        }
        finally
        {
            lock (_lock)
            {
                // Under the lock, so that SetFeeds never cancels a disposed source: an input that ended on its own
                // leaves the table, and the next SetFeeds with it listed starts it again.
                if (_inputs.TryGetValue(input.Name, out var current) && current == input)
                {
                    _inputs.Remove(input.Name);
                }

                input.Stop.Dispose();
            }
        }
    }

    /// <summary>
    /// An input's publisher left (or its cache was dropped): the stream's own group of pictures holds that input's
    /// last pictures, which a new viewer must not get as if they were live. Attached viewers get what comes next.
    /// </summary>
    private void OnInputCleared(Feed feed)
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                Output.ClearLatest();
            }
        }
    }

    /// <summary>Stops every input and ends the output (its viewers are closed).</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] tasks;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            tasks = [.. _inputs.Values.Select(i => i.Task)];
            _inputs.Clear();
        }

        await _disposing.CancelAsync();
        await Task.WhenAll(tasks);
        _disposing.Dispose();
        Output.Dispose();
    }

    private sealed class Input(string name, CancellationTokenSource stop)
    {
        public string Name { get; } = name;

        public CancellationTokenSource Stop { get; } = stop;

        public Task Task { get; set; } = Task.CompletedTask;

        /// <summary>Skips of the input's earlier readers (under the stream's lock).</summary>
        public long Skipped { get; set; }

        /// <summary>The input's reader now, if any (under the stream's lock).</summary>
        public OrderedFeedReader? Reader { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.CombinedStreamInputFailed, LogLevel.Error, "Stream {Stream}: input {Feed} failed")]
        public static partial void InputFailed(ILogger logger, string stream, string feed, Exception exception);
    }
}
