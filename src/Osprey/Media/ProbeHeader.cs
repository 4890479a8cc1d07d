using System.Buffers.Binary;

namespace Osprey.Media;

/// <summary>
/// The 32-byte probe header Osprey's own sources put at the start of every frame, so that tools can measure
/// latency and skipped frames and detect torn frames.
/// </summary>
/// <remarks>
/// Layout, little-endian:
/// <code>
/// 0   4  magic "FOUT"
/// 4   4  u32 frame counter, from 1
/// 8   8  u64 capture time, microseconds since the Unix epoch
/// 16  2  u16 width
/// 18  2  u16 height
/// 20  4  u32 payload size (the whole frame)
/// 24  8  zero
/// </code>
/// The counter is written again in the frame's last 4 bytes; a frame whose two counters differ is torn.
/// </remarks>
public readonly record struct ProbeHeader(uint Counter, long CaptureTimeMicros, ushort Width, ushort Height, uint PayloadSize)
{
    /// <summary>Bytes the header occupies.</summary>
    public const int Size = 32;

    /// <summary>The magic, "FOUT" read as a little-endian u32.</summary>
    public const uint Magic = 'F' | ('O' << 8) | ('U' << 16) | ('T' << 24);

    /// <summary>Writes the header at the start of <paramref name="frame"/> and the counter in its last 4 bytes.</summary>
    public void WriteTo(Span<byte> frame)
    {
        if (frame.Length < Size + 4)
        {
            throw new ArgumentException($"A probed frame needs at least {Size + 4} bytes.", nameof(frame));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(frame, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], Counter);
        BinaryPrimitives.WriteInt64LittleEndian(frame[8..], CaptureTimeMicros);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[16..], Width);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[18..], Height);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[20..], PayloadSize);
        frame[24..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(frame[^4..], Counter);
    }

    /// <summary>Reads a header from the start of <paramref name="frame"/>; false when the magic is absent.</summary>
    public static bool TryRead(ReadOnlySpan<byte> frame, out ProbeHeader header)
    {
        if (frame.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(frame) != Magic)
        {
            header = default;
            return false;
        }

        header = new ProbeHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(frame[4..]),
            BinaryPrimitives.ReadInt64LittleEndian(frame[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(frame[16..]),
            BinaryPrimitives.ReadUInt16LittleEndian(frame[18..]),
            BinaryPrimitives.ReadUInt32LittleEndian(frame[20..]));
        return true;
    }

    /// <summary>True when the frame's trailing counter matches the header's (the frame is whole).</summary>
    public static bool IsIntact(ReadOnlySpan<byte> frame, ProbeHeader header) =>
        frame.Length >= Size + 4 && BinaryPrimitives.ReadUInt32LittleEndian(frame[^4..]) == header.Counter;

    /// <summary>Now, in microseconds since the Unix epoch.</summary>
    public static long NowMicros(TimeProvider? time = null) =>
        ((time ?? TimeProvider.System).GetUtcNow().UtcTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
}
