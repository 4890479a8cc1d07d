using System.Buffers;
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
/// <para>An <em>external</em> frame (<see cref="CreateExternal"/>) wraps memory Osprey does not own, such as a
/// V4L2 mmap buffer: on its last release it calls its owner back instead of returning to a pool, and the owner
/// (the capture loop) hands the memory back to the driver only then. It has no array: senders use
/// <see cref="Memory"/>, and <see cref="TryGetSegment"/> says whether a vectored array send is possible.</para>
/// </remarks>
public sealed class Frame
{
    private readonly FramePool? _pool;
    private readonly byte[]? _buffer;
    private readonly MemoryManager<byte>? _external;
    private readonly Action<Frame>? _onReleased;
    private readonly int _capacity;
    private int _references;
    private int _length;

    internal Frame(FramePool pool, int capacity)
    {
        _pool = pool;
        // Pinned (POH) so that vectored socket sends and native code never pin or copy it per send.
        _buffer = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
        _capacity = capacity;
    }

    private Frame(MemoryManager<byte> memory, Action<Frame> onReleased)
    {
        _external = memory;
        _onReleased = onReleased;
        _capacity = memory.Memory.Length;
    }

    /// <summary>
    /// Wraps memory Osprey does not own (a driver's buffer). The frame starts with no reference: the owner calls
    /// <see cref="AcquireExternal"/> each time the memory holds a new picture, and <paramref name="onReleased"/>
    /// runs, on whichever thread gives back the last reference, when nobody reads it any more.
    /// </summary>
    /// <param name="memory">The memory; it must stay valid and unchanged until <paramref name="onReleased"/> runs.</param>
    /// <param name="onReleased">Called once per <see cref="AcquireExternal"/>, after the last release.</param>
    public static Frame CreateExternal(MemoryManager<byte> memory, Action<Frame> onReleased)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(onReleased);
        return new Frame(memory, onReleased);
    }

    /// <summary>
    /// Takes an external frame that nobody references for a new picture of <paramref name="length"/> bytes: the
    /// caller then holds the only reference, and the metadata is reset as for a rented frame.
    /// </summary>
    public void AcquireExternal(int length)
    {
        if (_external is null)
        {
            throw new InvalidOperationException("Only an external frame is acquired; pooled frames are rented.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _capacity);
        if (Interlocked.CompareExchange(ref _references, 1, 0) != 0)
        {
            throw new InvalidOperationException("An external frame was acquired while still referenced.");
        }

        ResetMetadata();
        _length = length;
    }

    /// <summary>True when the frame wraps external memory (see <see cref="CreateExternal"/>).</summary>
    public bool IsExternal => _external is not null;

    /// <summary>Bytes the buffer can hold.</summary>
    public int Capacity => _capacity;

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

    /// <summary>
    /// Says what a newly captured or received frame is and when it was taken: <paramref name="captureTimeMicros"/>
    /// on the wall clock (what the probe header carries), <paramref name="captureTimestamp"/> on the monotonic
    /// clock (now, when not given), from which latency is measured.
    /// </summary>
    public void StampCaptured(MediaFormat format, int width, int height, bool isKeyFrame, long captureTimeMicros, long captureTimestamp = 0)
    {
        CaptureTimeMicros = captureTimeMicros;
        CaptureTimestamp = captureTimestamp != 0 ? captureTimestamp : Stopwatch.GetTimestamp();
        Format = format;
        Width = width;
        Height = height;
        IsKeyFrame = isKeyFrame;
    }

    /// <summary>
    /// Says what a frame made from <paramref name="input"/> is (a JPEG of a raw frame, a fragment of an access
    /// unit): the input's capture times, so that latency counts from the camera, not from the transform.
    /// </summary>
    public void StampFrom(Frame input, MediaFormat format, int width, int height, bool isKeyFrame)
    {
        ArgumentNullException.ThrowIfNull(input);
        StampCaptured(format, width, height, isKeyFrame, input.CaptureTimeMicros, input.CaptureTimestamp);
    }

    /// <summary>The media bytes.</summary>
    public ReadOnlyMemory<byte> Memory => _buffer is not null ? new(_buffer, 0, _length) : _external!.Memory[.._length];

    /// <summary>The media bytes.</summary>
    public ReadOnlySpan<byte> Span => _buffer is not null ? new(_buffer, 0, _length) : _external!.GetSpan()[.._length];

    /// <summary>
    /// The media bytes as an array segment, for vectored socket sends. Throws for an external frame, which has
    /// no array: use <see cref="TryGetSegment"/> or <see cref="Memory"/> where frames may be external.
    /// </summary>
    public ArraySegment<byte> Segment => _buffer is not null
        ? new(_buffer, 0, _length)
        : throw new InvalidOperationException("This frame wraps external memory and has no array; send its Memory.");

    /// <summary>The media bytes as an array segment when the frame has an array (pooled frames); false for external ones.</summary>
    public bool TryGetSegment(out ArraySegment<byte> segment)
    {
        segment = _buffer is not null ? new(_buffer, 0, _length) : default;
        return _buffer is not null;
    }

    /// <summary>Live references; for tests and diagnostics.</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>The whole buffer, for the producer to fill before it publishes.</summary>
    public Span<byte> GetWritableSpan(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _capacity);
        Debug.Assert(Volatile.Read(ref _references) == 1, "only the sole owner may write a frame");
        _length = length;
        return _buffer is not null ? new Span<byte>(_buffer, 0, length) : _external!.GetSpan()[..length];
    }

    /// <summary>The buffer as memory, for a producer that fills it with asynchronous reads (a pipe, a socket).</summary>
    public Memory<byte> GetWritableMemory(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _capacity);
        Debug.Assert(Volatile.Read(ref _references) == 1, "only the sole owner may write a frame");
        _length = length;
        return _buffer is not null ? new Memory<byte>(_buffer, 0, length) : _external!.Memory[..length];
    }

    /// <summary>Sets how many bytes of the buffer are media, after writing through <see cref="GetWritableSpan"/>.</summary>
    public void SetLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _capacity);
        _length = length;
    }

    /// <summary>Adds a reference. Only valid while the caller already holds one (or the feed lock guarantees one).</summary>
    public void AddReference()
    {
        var after = Interlocked.Increment(ref _references);
        Debug.Assert(after > 1, "a frame was revived after its last release");
    }

    /// <summary>Gives back one reference; the last one returns the buffer to the pool (or calls an external frame's owner).</summary>
    public void Release()
    {
        var after = Interlocked.Decrement(ref _references);
        if (after == 0)
        {
            if (_pool is not null)
            {
                _pool.Return(this);
            }
            else
            {
                _onReleased!(this);
            }
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
        ResetMetadata();
    }

    private void ResetMetadata()
    {
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
