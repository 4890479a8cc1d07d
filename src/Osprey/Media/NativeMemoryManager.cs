using System.Buffers;

namespace Osprey.Media;

/// <summary>
/// <see cref="Memory{T}"/> over native memory that its owner keeps valid (a V4L2 mmap buffer), so that frames,
/// socket sends and codecs can use it without a copy.
/// </summary>
/// <remarks>
/// Pinning is free (the memory never moves) and disposing does nothing: the owner unmaps the memory itself, and
/// only after the last frame over it has been released.
/// </remarks>
public sealed unsafe class NativeMemoryManager : MemoryManager<byte>
{
    private readonly byte* _pointer;
    private readonly int _length;

    /// <summary>Wraps <paramref name="length"/> bytes at <paramref name="pointer"/>.</summary>
    public NativeMemoryManager(nint pointer, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _pointer = (byte*)pointer;
        _length = length;
    }

    /// <summary>The start of the memory.</summary>
    public nint Pointer => (nint)_pointer;

    /// <inheritdoc />
    public override Span<byte> GetSpan() => new(_pointer, _length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle(_pointer + elementIndex);
    }

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
    }
}
