using System.Buffers.Binary;

namespace Osprey.Containers.MpegTs;

/// <summary>
/// Reads and patches the fields of one 188-byte MPEG transport stream packet (ISO/IEC 13818-1 §2.4.3.2): sync
/// byte, PID, payload_unit_start_indicator, adaptation field (random_access_indicator, PCR) and continuity counter.
/// </summary>
/// <remarks>
/// Every method takes the packet as a span of at least <see cref="Size"/> bytes (only the first 188 are looked at)
/// and none allocates. Readers never throw for bad field values: a malformed adaptation field gives an empty
/// payload, so callers can treat damaged packets like packets without payload.
/// </remarks>
public static class TsPacket
{
    /// <summary>The MIME type of an MPEG transport stream (RFC 3555), as stream headers name it.</summary>
    public const string MimeType = "video/mp2t";

    /// <summary>Bytes in a transport stream packet.</summary>
    public const int Size = 188;

    /// <summary>The first byte of every packet.</summary>
    public const byte SyncByte = 0x47;

    /// <summary>The PID of the program association table.</summary>
    public const int PatPid = 0x0000;

    /// <summary>The PID of null (stuffing) packets.</summary>
    public const int NullPid = 0x1FFF;

    /// <summary>The largest PID (13 bits).</summary>
    public const int MaxPid = 0x1FFF;

    /// <summary>The bytes before the adaptation field or payload.</summary>
    public const int HeaderSize = 4;

    /// <summary>The largest payload, in a packet without adaptation field.</summary>
    public const int MaxPayloadSize = Size - HeaderSize;

    /// <summary>True when the packet starts with the sync byte.</summary>
    public static bool HasSync(ReadOnlySpan<byte> packet) => packet.Length >= Size && packet[0] == SyncByte;

    /// <summary>The packet's 13-bit PID.</summary>
    public static int GetPid(ReadOnlySpan<byte> packet) => ((packet[1] & 0x1F) << 8) | packet[2];

    /// <summary>Sets the packet's PID, keeping the other bits of its header.</summary>
    public static void SetPid(Span<byte> packet, int pid)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pid, (uint)MaxPid, nameof(pid));
        packet[1] = (byte)((packet[1] & 0xE0) | (pid >> 8));
        packet[2] = (byte)pid;
    }

    /// <summary>transport_error_indicator: the packet is known to be damaged (set by a demodulator).</summary>
    public static bool HasTransportError(ReadOnlySpan<byte> packet) => (packet[1] & 0x80) != 0;

    /// <summary>payload_unit_start_indicator: a PES packet or a PSI section starts in this packet's payload.</summary>
    public static bool IsPayloadUnitStart(ReadOnlySpan<byte> packet) => (packet[1] & 0x40) != 0;

    /// <summary>transport_scrambling_control (0: not scrambled).</summary>
    public static int GetScramblingControl(ReadOnlySpan<byte> packet) => packet[3] >> 6;

    /// <summary>True when adaptation_field_control says an adaptation field follows the header.</summary>
    public static bool HasAdaptationField(ReadOnlySpan<byte> packet) => (packet[3] & 0x20) != 0;

    /// <summary>True when adaptation_field_control says the packet carries payload.</summary>
    public static bool HasPayload(ReadOnlySpan<byte> packet) => (packet[3] & 0x10) != 0;

    /// <summary>The 4-bit continuity_counter.</summary>
    public static int GetContinuityCounter(ReadOnlySpan<byte> packet) => packet[3] & 0x0F;

    /// <summary>Sets the 4-bit continuity_counter (taken modulo 16).</summary>
    public static void SetContinuityCounter(Span<byte> packet, int continuityCounter) =>
        packet[3] = (byte)((packet[3] & 0xF0) | (continuityCounter & 0x0F));

    /// <summary>The adaptation field's flags byte (discontinuity, random access, PCR, ...), 0 when it has none.</summary>
    public static int GetAdaptationFlags(ReadOnlySpan<byte> packet) =>
        HasAdaptationField(packet) && packet[4] > 0 ? packet[5] : 0;

    /// <summary>discontinuity_indicator: the continuity counter (and, on the PCR PID, the time base) may jump here.</summary>
    public static bool IsDiscontinuity(ReadOnlySpan<byte> packet) => (GetAdaptationFlags(packet) & 0x80) != 0;

    /// <summary>
    /// random_access_indicator: the next PES packet of this PID starts at a point a decoder can start from (ffmpeg
    /// sets it on every key frame, audio frames included).
    /// </summary>
    public static bool IsRandomAccess(ReadOnlySpan<byte> packet) => (GetAdaptationFlags(packet) & 0x40) != 0;

    /// <summary>
    /// Reads the program clock reference in 27 MHz units (base × 300 + extension, §2.4.3.5); false when the packet
    /// has none or its adaptation field is too short for one.
    /// </summary>
    public static bool TryGetPcr(ReadOnlySpan<byte> packet, out long pcr)
    {
        pcr = 0;
        if ((GetAdaptationFlags(packet) & 0x10) == 0 || packet[4] < 7)
        {
            return false;
        }

        var high = BinaryPrimitives.ReadUInt32BigEndian(packet[6..]);
        var low = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);
        var baseValue = ((long)high << 1) | (uint)(low >> 15);
        pcr = (baseValue * 300) + (low & 0x1FF);
        return true;
    }

    /// <summary>
    /// The payload's offset in the packet, or -1 when it has none (adaptation field only, reserved
    /// adaptation_field_control, or an adaptation field longer than the packet).
    /// </summary>
    public static int GetPayloadOffset(ReadOnlySpan<byte> packet)
    {
        var control = packet[3] & 0x30;
        if (control == 0x10)
        {
            return HeaderSize;
        }

        if (control != 0x30)
        {
            return -1;
        }

        // With payload the adaptation field leaves at least one byte of it: 182 bytes at most after its length.
        var adaptationLength = packet[4];
        return adaptationLength > 182 ? -1 : HeaderSize + 1 + adaptationLength;
    }

    /// <summary>The packet's payload; empty when it has none or its header is malformed.</summary>
    public static ReadOnlySpan<byte> GetPayload(ReadOnlySpan<byte> packet)
    {
        var offset = GetPayloadOffset(packet);
        return offset < 0 ? default : packet[offset..Size];
    }

    /// <summary>
    /// Writes the 4-byte header of a packet with payload only (no adaptation field, not scrambled).
    /// </summary>
    public static void WriteHeader(Span<byte> packet, int pid, bool payloadUnitStart, int continuityCounter)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pid, (uint)MaxPid, nameof(pid));
        packet[0] = SyncByte;
        packet[1] = (byte)((payloadUnitStart ? 0x40 : 0) | (pid >> 8));
        packet[2] = (byte)pid;
        packet[3] = (byte)(0x10 | (continuityCounter & 0x0F));
    }
}
