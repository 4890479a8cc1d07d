using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>
/// One consumer of a <see cref="Feed"/> in the <em>latest</em> read mode: it gets the newest frame it has not
/// seen, and the frames it was too slow for are counted as dropped, here and on the feed.
/// </summary>
/// <remarks>
/// <para>Waiting is a signal, never a timer: <see cref="SignalledReader.WaitAsync"/> completes when the feed publishes, when
/// <see cref="SignalledReader.Wake"/> is called (an output that has control work to do, like a pong) or when the reader or feed
/// closes. It allocates nothing: the reader is its own reusable <see cref="SignalledReader"/>.</para>
/// <para>Thread safety: one consumer calls <see cref="SignalledReader.WaitAsync"/> and <see cref="TryTakeLatest"/>; any thread
/// may call <see cref="SignalledReader.Wake"/>, <see cref="Close"/> and <see cref="Dispose"/>.</para>
/// </remarks>
public sealed class FeedReader : SignalledReader, IFrameReader
{
    private readonly Feed _feed;
    private long _lastSequence;
    private long _drops;
    private long _frames;

    internal FeedReader(Feed feed, long startAfterSequence)
    {
        _feed = feed;
        _lastSequence = startAfterSequence;
    }

    /// <summary>The feed this reader reads.</summary>
    public Feed Feed => _feed;

    /// <summary>Frames this reader skipped because a newer one was already latched.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Frames this reader took.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <inheritdoc />
    long IFrameReader.Skipped => Drops;

    /// <inheritdoc />
    bool IFrameReader.TryTake(out Frame frame) => TryTakeLatest(out frame);

    /// <summary>
    /// Takes the newest frame this reader has not seen, with a reference the caller must release (dispose the
    /// lease). False when there is none newer.
    /// </summary>
    public bool TryTakeLatest(out Frame frame)
    {
        if (!_feed.TryTakeNewer(_lastSequence, out frame))
        {
            return false;
        }

        var skipped = _lastSequence == 0 ? 0 : frame.Sequence - _lastSequence - 1;
        if (skipped > 0)
        {
            Interlocked.Add(ref _drops, skipped);
            _feed.CountDrops(skipped);
        }

        _lastSequence = frame.Sequence;
        Interlocked.Increment(ref _frames);
        return true;
    }

    /// <summary>Stops the reader: a pending wait completes with false. Idempotent.</summary>
    public void Close()
    {
        MarkClosed();
        _feed.Detach(this);
    }

    /// <inheritdoc />
    public void Dispose() => Close();

    internal void MarkClosed() => MarkClosedAndSignal();

    /// <inheritdoc />
    protected override bool HasFrames() => _feed.LatestSequence > _lastSequence;

    /// <inheritdoc />
    protected override bool IsEnded => _feed.IsCompleted;
}
