using System.Diagnostics;
using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>
/// A named track that latches its newest frame and wakes its readers when a new one arrives.
/// </summary>
/// <remarks>
/// <para>Publishing never waits for readers: it swaps the latched frame under a short lock, releases the feed's
/// reference to the old one and signals every waiting reader. A reader takes its own reference under the same
/// lock, so a frame cannot return to the pool, and be written again, while anyone holds it.</para>
/// <para>Thread-safe: any number of publishers and readers. Sequence numbers are assigned under the lock, so
/// readers see frames in publish order.</para>
/// </remarks>
public sealed class Feed : IDisposable
{
    private readonly Lock _lock = new();
    private readonly FpsMeter _fps = new();
    private readonly TimeProvider _time;
    private Frame? _latest;
    private long _sequence;
    private FeedReader[] _readers = [];
    private OrderedFeedReader[] _orderedReaders = [];
    private readonly List<Frame> _groupOfPictures = [];
    private long _groupOfPicturesBytes;
    private bool _groupOfPicturesBroken;
    private StreamHeader? _header;
    private long _frames;
    private long _bytes;
    private long _drops;
    private long _viewersDropped;
    private int _lanesPending; // a bit per fan-out lane this feed is queued on
    private bool _disposed;
    private FeedState _state = FeedState.Starting;
    private string? _stateDetail;

    /// <summary>Creates a feed named <paramref name="name"/>.</summary>
    public Feed(string name, FramePool? pool = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Pool = pool ?? new FramePool();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The feed's name, as in <c>/ws/{name}/raw</c>.</summary>
    public string Name { get; }

    /// <summary>The pool producers rent this feed's frames from.</summary>
    public FramePool Pool { get; }

    /// <summary>What the feed carries; set by its source when it knows.</summary>
    public VideoInfo Info { get; set; }

    /// <summary>The URI of the source that owns the name, if any (a name held by a source is never taken over).</summary>
    public string? SourceUri { get; set; }

    /// <summary>The feed's life-cycle state, for the API.</summary>
    public FeedState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>Why the feed is in its state (the last error of a restarting source, say).</summary>
    public string? StateDetail
    {
        get
        {
            lock (_lock)
            {
                return _stateDetail;
            }
        }
    }

    /// <summary>The sequence number of the newest frame (0 before the first).</summary>
    public long LatestSequence => Volatile.Read(ref _sequence);

    /// <summary>Readers attached now, in either mode.</summary>
    public int ReaderCount => Volatile.Read(ref _readers).Length + Volatile.Read(ref _orderedReaders).Length;

    /// <summary>
    /// Keep the frames since the latest key frame so that a new ordered reader starts at once from it (H.264,
    /// fMP4, MPEG-TS feeds). Bounded by <see cref="MaxGroupOfPicturesFrames"/> and
    /// <see cref="MaxGroupOfPicturesBytes"/>; past them the cache is dropped until the next key frame.
    /// </summary>
    public bool KeepGroupOfPictures { get; init; }

    /// <summary>The most frames the group-of-pictures cache holds.</summary>
    public int MaxGroupOfPicturesFrames { get; init; } = 600;

    /// <summary>The most bytes the group-of-pictures cache holds.</summary>
    public long MaxGroupOfPicturesBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>
    /// What a container stream's viewers need before its frames (an fMP4 init segment and MIME type); frames
    /// carry the <see cref="StreamHeader.Version"/> they belong to in <see cref="Frame.HeaderVersion"/>.
    /// </summary>
    public StreamHeader? Header
    {
        get => Volatile.Read(ref _header);
        set => Volatile.Write(ref _header, value);
    }

    /// <summary>Frames published.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Bytes published.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Frames readers skipped because newer ones arrived first, summed over all readers.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Viewers the server dropped (a send stalled past its timeout, a queue over its byte budget).</summary>
    public long ViewersDropped => Interlocked.Read(ref _viewersDropped);

    /// <summary>Counts one viewer dropped by the server; outputs call it, the feed only keeps the count.</summary>
    public void CountViewerDropped() => Interlocked.Increment(ref _viewersDropped);

    /// <summary>True once the feed is disposed; readers then wake with nothing more to read.</summary>
    public bool IsCompleted => Volatile.Read(ref _disposed);

    /// <summary>Publish rate over the last second or so; 0 when frames stopped coming.</summary>
    public double MeasuredFps => _fps.Current(Stopwatch.GetTimestamp());

    /// <summary>
    /// Called with the new reader count whenever a reader attaches or leaves, outside the feed's lock; lazy
    /// transforms use it to run only while someone watches. Set once, before readers come.
    /// </summary>
    public Action<Feed, int>? ReaderCountChanged { get; set; }

    /// <summary>Sets the state shown by the API.</summary>
    public void SetState(FeedState state, string? detail = null)
    {
        lock (_lock)
        {
            _state = state;
            _stateDetail = detail;
        }
    }

    /// <summary>
    /// Publishes <paramref name="frame"/>, taking over the caller's reference. The caller must not touch the
    /// frame afterwards except through references it takes again.
    /// </summary>
    public void Publish(Frame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Frame? previous;
        FeedReader[] readers;
        var lanes = 0;
        lock (_lock)
        {
            if (_disposed)
            {
                previous = frame; // Nobody will read it: give the reference straight back.
                readers = [];
            }
            else
            {
                frame.Sequence = ++_sequence;
                previous = _latest;
                _latest = frame;
                readers = _readers;
                CacheGroupOfPictures(frame);
                // Ordered readers get every frame, in sequence order: offered under the lock.
                foreach (var ordered in _orderedReaders)
                {
                    if (ordered.Offer(frame))
                    {
                        lanes |= 1 << ordered.Lane;
                    }
                }

                _frames++;
                _bytes += frame.Length;
                _fps.Tick(Stopwatch.GetTimestamp());
                if (_state != FeedState.Running)
                {
                    _state = FeedState.Running;
                    _stateDetail = null;
                }
            }
        }

        previous?.Release();
        foreach (var reader in readers)
        {
            var lane = reader.Lane;
            if (lane >= 0)
            {
                lanes |= 1 << lane;
            }
            else
            {
                reader.Signal();
            }
        }

        ScheduleLanes(lanes);
    }

    /// <summary>Queues this feed once on each lane of <paramref name="lanes"/> it is not queued on yet.</summary>
    private void ScheduleLanes(int lanes)
    {
        while (lanes != 0)
        {
            var lane = System.Numerics.BitOperations.TrailingZeroCount(lanes);
            var bit = 1 << lane;
            lanes &= ~bit;
            if ((Interlocked.Or(ref _lanesPending, bit) & bit) == 0)
            {
                FanOutLanes.Schedule(this, lane);
            }
        }
    }

    /// <summary>
    /// On fan-out lane <paramref name="lane"/>: wakes that lane's readers of this feed, each running its
    /// continuation (a non-blocking send) here, one after the other.
    /// </summary>
    internal void RunFanOutLane(int lane)
    {
        // Cleared first: a frame published during the pass queues the feed again, so no wake is lost.
        Interlocked.And(ref _lanesPending, ~(1 << lane));
        foreach (var reader in Volatile.Read(ref _readers))
        {
            if (reader.Lane == lane)
            {
                SignalOnLane(reader);
            }
        }

        foreach (var reader in Volatile.Read(ref _orderedReaders))
        {
            if (reader.Lane == lane)
            {
                SignalOnLane(reader);
            }
        }
    }

    private static void SignalOnLane(SignalledReader reader)
    {
        try
        {
            reader.Signal(inline: true);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A consumer's continuation failed outside its own error handling (an async method's never does):
            // counted, and the lane goes on serving the others.
            FanOutLanes.CountFault();
        }
    }

    /// <summary>The newest frame with a reference for the caller, or null before the first frame.</summary>
    public Frame? TakeLatest()
    {
        lock (_lock)
        {
            var latest = _latest;
            latest?.AddReference();
            return latest;
        }
    }

    /// <summary>Attaches a reader in the <em>latest</em> mode: it gets the newest frame it has not seen.</summary>
    /// <param name="startAtLatest">True to hand out the frame latched now first; false to wait for the next one.</param>
    public FeedReader OpenReader(bool startAtLatest = true)
    {
        var reader = new FeedReader(this, startAtLatest ? 0 : LatestSequence);
        int count;
        lock (_lock)
        {
            if (_disposed)
            {
                reader.MarkClosed();
                return reader;
            }

            _readers = [.. _readers, reader];
            count = _readers.Length;
        }

        ReaderCountChanged?.Invoke(this, count);
        return reader;
    }

    /// <summary>
    /// Attaches a reader in the <em>ordered</em> mode: every frame in order through a queue of
    /// <paramref name="capacity"/> frames, skipping to the next key frame when it falls behind.
    /// </summary>
    /// <param name="capacity">The most frames queued for the reader.</param>
    /// <param name="startAtNextKeyFrame">Wait for the next key frame (the live edge) instead of starting with the cached group of pictures.</param>
    /// <param name="maxBytes">The most bytes of frames queued for the reader; past it, as past <paramref name="capacity"/>, it skips to the next key frame.</param>
    public OrderedFeedReader OpenOrderedReader(int capacity = 90, bool startAtNextKeyFrame = false, long maxBytes = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        var reader = new OrderedFeedReader(this, capacity, waitForKeyFrame: true, maxBytes);
        int count;
        lock (_lock)
        {
            if (_disposed)
            {
                reader.MarkClosed();
                return reader;
            }

            if (!startAtNextKeyFrame)
            {
                reader.Prime(_groupOfPictures);
            }

            _orderedReaders = [.. _orderedReaders, reader];
            count = _readers.Length + _orderedReaders.Length;
        }

        ReaderCountChanged?.Invoke(this, count);
        return reader;
    }

    /// <summary>Frames in the group-of-pictures cache now (for tests and the API).</summary>
    public int CachedGroupOfPicturesFrames
    {
        get
        {
            lock (_lock)
            {
                return _groupOfPictures.Count;
            }
        }
    }

    /// <summary>Waits for the first frame, up to <paramref name="timeout"/>; null when none came.</summary>
    public async Task<Frame?> WaitForFrameAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var frame = TakeLatest();
        if (frame is not null)
        {
            return frame;
        }

        using var reader = OpenReader();
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        using var registration = timeoutSource.Token.UnsafeRegister(static state => ((FeedReader)state!).Close(), reader);
        while (await reader.WaitAsync())
        {
            if (reader.TryTakeLatest(out var taken))
            {
                return taken;
            }
        }

        return null;
    }

    internal bool TryTakeNewer(long afterSequence, out Frame frame)
    {
        lock (_lock)
        {
            var latest = _latest;
            if (latest is null || latest.Sequence <= afterSequence)
            {
                frame = null!;
                return false;
            }

            latest.AddReference();
            frame = latest;
            return true;
        }
    }

    internal void CountDrops(long dropped) => Interlocked.Add(ref _drops, dropped);

    internal void Detach(FeedReader reader)
    {
        int count;
        lock (_lock)
        {
            if (!TryRemove(ref _readers, reader))
            {
                return;
            }

            count = _readers.Length + _orderedReaders.Length;
        }

        ReaderCountChanged?.Invoke(this, count);
    }

    internal void Detach(OrderedFeedReader reader)
    {
        int count;
        lock (_lock)
        {
            if (!TryRemove(ref _orderedReaders, reader))
            {
                return;
            }

            count = _readers.Length + _orderedReaders.Length;
        }

        ReaderCountChanged?.Invoke(this, count);
    }

    private static bool TryRemove<T>(ref T[] array, T item)
        where T : class
    {
        var index = Array.IndexOf(array, item);
        if (index < 0)
        {
            return false;
        }

        var copy = new T[array.Length - 1];
        Array.Copy(array, 0, copy, 0, index);
        Array.Copy(array, index + 1, copy, index, copy.Length - index);
        array = copy;
        return true;
    }

    /// <summary>Under the lock: the cache restarts at each key frame and gives up when it grows past its bounds.</summary>
    private void CacheGroupOfPictures(Frame frame)
    {
        if (!KeepGroupOfPictures)
        {
            return;
        }

        if (frame.IsKeyFrame)
        {
            ReleaseGroupOfPictures();
            _groupOfPicturesBroken = false;
        }
        else if (_groupOfPicturesBroken || _groupOfPictures.Count == 0)
        {
            return; // no key frame to start from yet
        }

        if (_groupOfPictures.Count >= MaxGroupOfPicturesFrames || _groupOfPicturesBytes + frame.Length > MaxGroupOfPicturesBytes)
        {
            // A group too long to keep: new readers wait for the next key frame instead.
            ReleaseGroupOfPictures();
            _groupOfPicturesBroken = true;
            return;
        }

        frame.AddReference();
        _groupOfPictures.Add(frame);
        _groupOfPicturesBytes += frame.Length;
    }

    private void ReleaseGroupOfPictures()
    {
        foreach (var cached in _groupOfPictures)
        {
            cached.Release();
        }

        _groupOfPictures.Clear();
        _groupOfPicturesBytes = 0;
    }

    /// <summary>
    /// Lets go of the latched frame without ending the feed, so that the next reader waits for a fresh frame
    /// instead of getting a stale one (a lazy transform that stopped and starts again).
    /// </summary>
    public void ClearLatest()
    {
        Frame? latest;
        lock (_lock)
        {
            latest = _latest;
            _latest = null;
            ReleaseGroupOfPictures();
        }

        latest?.Release();
        LatestCleared?.Invoke(this);
    }

    /// <summary>
    /// Raised after <see cref="ClearLatest"/> (a publisher left, a lazy transform stopped), outside the feed's lock:
    /// what is built from this feed's frames (a vw stream's combined output) drops its own cached pictures too.
    /// </summary>
    public event Action<Feed>? LatestCleared;

    /// <summary>Ends the feed: readers wake and finish, and the latched frame goes back to the pool.</summary>
    public void Dispose()
    {
        Frame? latest;
        FeedReader[] readers;
        OrderedFeedReader[] ordered;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _state = FeedState.Stopped;
            latest = _latest;
            _latest = null;
            readers = _readers;
            _readers = [];
            ordered = _orderedReaders;
            _orderedReaders = [];
            ReleaseGroupOfPictures();
        }

        latest?.Release();
        foreach (var reader in readers)
        {
            reader.MarkClosed();
        }

        foreach (var reader in ordered)
        {
            reader.MarkClosed();
        }
    }
}
