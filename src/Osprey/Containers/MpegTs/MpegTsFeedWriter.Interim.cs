using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Containers.MpegTs;

/// <summary>Interim pass-through until the TS chunker lands: each flush is one frame.</summary>
public sealed class MpegTsFeedWriter
{
    private readonly Feed _feed;
    private readonly byte[] _pending = new byte[1 << 20];
    private int _length;

    /// <summary>Writes to <paramref name="feed"/>.</summary>
    public MpegTsFeedWriter(Feed feed) => _feed = feed;

    /// <summary>Bytes taken.</summary>
    public long Bytes { get; private set; }

    /// <summary>Chunks published.</summary>
    public long Chunks { get; private set; }

    /// <summary>Resyncs.</summary>
    public long ResyncCount { get; private set; }

    /// <summary>Discarded bytes.</summary>
    public long DiscardedBytes { get; private set; }

    /// <summary>Takes bytes.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        Bytes += data.Length;
        var take = Math.Min(data.Length, _pending.Length - _length);
        data[..take].CopyTo(_pending.AsSpan(_length));
        _length += take;
        DiscardedBytes += data.Length - take;
    }

    /// <summary>Publishes what is pending.</summary>
    public void Flush()
    {
        if (_length == 0)
        {
            return;
        }

        var frame = _feed.Pool.Rent(_length);
        _pending.AsSpan(0, _length).CopyTo(frame.GetWritableSpan(_length));
        frame.SetLength(_length);
        frame.Format = MediaFormat.MpegTs;
        frame.IsKeyFrame = true;
        frame.CaptureTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        _length = 0;
        Chunks++;
        _feed.Publish(frame);
    }
}
