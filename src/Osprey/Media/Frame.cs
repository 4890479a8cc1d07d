using System.Diagnostics;

namespace Osprey.Media;

/// <summary>
/// One unit of media in pooled, reference-counted memory. Immutable once published.
/// </summary>
/// <remarks>
/// Ownership: whoever rents a frame from a <see cref="FramePool"/> holds one reference and fills it in;
/// <see cref="Feeds.Feed.Publish"/> takes that reference over. Every reader that takes the frame from a feed
/// holds a reference of its own and gives it back with <see cref="Release"/> (or by disposing a
/// <see cref="FrameLease"/>). When the last reference goes the buffer returns to its pool, and only then can it
/// be written again: this is the latch that keeps a reader from ever seeing a frame overwritten under it.
/// </remarks>
public sealed class Frame
{
    private readonly FramePool _pool;
    private readonly byte[] _buffer;
    private int _references;
    private int _length;

    internal Frame(FramePool pool, int capacity)
    {
        _pool = pool;
        // Pinned (POH) so that vectored socket sends and native code never pin or copy it per send.
        _buffer = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
    }

    /// <summary>Bytes the buffer can hold.</summary>
    public int Capacity => _buffer.Length;

    /// <summary>Bytes of media in the frame.</summary>
    public int Length => _length;

    /// <summary>The feed's sequence number, assigned at publish (1 for a feed's first frame).</summary>
    public long Sequence { get; internal set; }

    /// <summary>Capture time, microseconds since the Unix epoch (wall clock).</summary>
    public long CaptureTimeMicros { get; set; }

    /// <summary>Capture time on the monotonic clock (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long CaptureTimestamp { get; set; }

    /// <summary>What the bytes are.</summary>
    public MediaFormat Format { get; set; }

    /// <summary>Picture width in pixels (0 when not a picture).</summary>
    public int Width { get; set; }

    /// <summary>Picture height in pixels (0 when not a picture).</summary>
    public int Height { get; set; }

    /// <summary>The <see cref="Feeds.StreamHeader.Version"/> of the container header this frame belongs to (fMP4 fragments).</summary>
    public int HeaderVersion { get; set; }

    /// <summary>True when a decoder can start at this frame (always true for raw and JPEG).</summary>
    public bool IsKeyFrame { get; set; }

    /// <summary>The media bytes.</summary>
    public ReadOnlyMemory<byte> Memory => new(_buffer, 0, _length);

    /// <summary>The media bytes.</summary>
    public ReadOnlySpan<byte> Span => new(_buffer, 0, _length);

    /// <summary>The media bytes as an array segment, for vectored socket sends.</summary>
    public ArraySegment<byte> Segment => new(_buffer, 0, _length);

    /// <summary>Live references; for tests and diagnostics.</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>The whole buffer, for the producer to fill before it publishes.</summary>
    public Span<byte> GetWritableSpan(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _buffer.Length);
        Debug.Assert(Volatile.Read(ref _references) == 1, "only the sole owner may write a frame");
        _length = length;
        return new Span<byte>(_buffer, 0, length);
    }

    /// <summary>The buffer as memory, for a producer that fills it with asynchronous reads (a pipe, a socket).</summary>
    public Memory<byte> GetWritableMemory(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _buffer.Length);
        Debug.Assert(Volatile.Read(ref _references) == 1, "only the sole owner may write a frame");
        _length = length;
        return new Memory<byte>(_buffer, 0, length);
    }

    /// <summary>Sets how many bytes of the buffer are media, after writing through <see cref="GetWritableSpan"/>.</summary>
    public void SetLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _buffer.Length);
        _length = length;
    }

    /// <summary>Adds a reference. Only valid while the caller already holds one (or the feed lock guarantees one).</summary>
    public void AddReference()
    {
        var after = Interlocked.Increment(ref _references);
        Debug.Assert(after > 1, "a frame was revived after its last release");
    }

    /// <summary>Gives back one reference; the last one returns the buffer to the pool.</summary>
    public void Release()
    {
        var after = Interlocked.Decrement(ref _references);
        if (after == 0)
        {
            _pool.Return(this);
        }
        else if (after < 0)
        {
            ThrowOverReleased();
        }
    }

    internal void ResetForRent()
    {
        _references = 1;
        _length = 0;
        Sequence = 0;
        CaptureTimeMicros = 0;
        CaptureTimestamp = 0;
        Format = MediaFormat.Unknown;
        Width = 0;
        Height = 0;
        IsKeyFrame = true;
        HeaderVersion = 0;
    }

    private static void ThrowOverReleased() =>
        throw new InvalidOperationException("Frame released more times than it was referenced.");
}

/// <summary>A reader's reference to a frame, given back on dispose.</summary>
public readonly struct FrameLease : IDisposable
{
    /// <summary>Wraps a reference the caller already holds.</summary>
    public FrameLease(Frame frame) => Frame = frame;

    /// <summary>The frame, valid until dispose.</summary>
    public Frame Frame { get; }

    /// <inheritdoc />
    public void Dispose() => Frame?.Release();
}
