using System.Buffers.Binary;

namespace Osprey.LoadTest;

/// <summary>
/// The few MPEG-TS fields the load tool reads and writes (ISO/IEC 13818-1 §2.4.3), and the layout of its marker
/// packets: TS null packets (PID 0x1FFF, which every demuxer ignores) whose payload carries a magic, the run id, a
/// sequence number, the send time and the stream offset, so that a viewer can measure latency and account for
/// every byte.
/// </summary>
internal static class TsPackets
{
    public const int Size = 188;
    public const byte SyncByte = 0x47;
    public const int NullPid = 0x1FFF;
    public const int PatPid = 0;

    /// <summary>PIDs 0x00-0x1F carry tables (PAT, CAT, TSDT, NIT, SDT/BAT, EIT ...), never elementary streams.</summary>
    public const int LastTablePid = 0x1F;

    /// <summary>"OSPRLOAD": the start of a marker's payload.</summary>
    public const ulong MarkerMagic = 0x4F_53_50_52_4C_4F_41_44;

    /// <summary>Magic (8), run id (4), sequence (8), Stopwatch ticks at send (8), stream offset after the marker (8).</summary>
    private const int MarkerPayloadOffset = 4;

    public static int Pid(ReadOnlySpan<byte> packet) => ((packet[1] & 0x1F) << 8) | packet[2];

    public static bool IsPayloadUnitStart(ReadOnlySpan<byte> packet) => (packet[1] & 0x40) != 0;

    /// <summary>adaptation_field_control: 1 payload only, 2 adaptation field only, 3 both, 0 reserved.</summary>
    public static int AdaptationFieldControl(ReadOnlySpan<byte> packet) => (packet[3] >> 4) & 0x3;

    public static bool HasPayload(ReadOnlySpan<byte> packet) => (packet[3] & 0x10) != 0;

    public static int ContinuityCounter(ReadOnlySpan<byte> packet) => packet[3] & 0x0F;

    public static void SetContinuityCounter(Span<byte> packet, int counter) => packet[3] = (byte)((packet[3] & 0xF0) | (counter & 0x0F));

    /// <summary>discontinuity_indicator of the adaptation field (the sender says the counter or the clock jumps here).</summary>
    public static bool IsDiscontinuity(ReadOnlySpan<byte> packet) =>
        (packet[3] & 0x20) != 0 && packet[4] > 0 && (packet[5] & 0x80) != 0;

    /// <summary>The payload: after the header and the adaptation field, if any; empty when there is none.</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> packet)
    {
        var start = 4;
        if ((packet[3] & 0x20) != 0)
        {
            start += 1 + packet[4];
        }

        return (packet[3] & 0x10) == 0 || start >= Size ? default : packet[start..Size];
    }

    /// <summary>The program clock reference in seconds, when the packet's adaptation field carries one.</summary>
    public static bool TryGetPcrSeconds(ReadOnlySpan<byte> packet, out double seconds)
    {
        seconds = 0;
        if ((packet[3] & 0x20) == 0 || packet[4] < 7 || (packet[5] & 0x10) == 0)
        {
            return false;
        }

        var b = packet[6..12];
        var baseValue = ((long)b[0] << 25) | ((long)b[1] << 17) | ((long)b[2] << 9) | ((long)b[3] << 1) | ((long)b[4] >> 7);
        var extension = ((b[4] & 0x01) << 8) | b[5];
        seconds = ((baseValue * 300) + extension) / 27_000_000.0;
        return true;
    }

    /// <summary>Adds the PMT PIDs a PAT packet lists to <paramref name="pmtPids"/> (a section in one packet, as every muxer writes it).</summary>
    public static void ReadPatPmtPids(ReadOnlySpan<byte> packet, ISet<int> pmtPids)
    {
        if (!IsPayloadUnitStart(packet))
        {
            return;
        }

        var payload = Payload(packet);
        if (payload.IsEmpty || payload[0] + 1 >= payload.Length)
        {
            return;
        }

        var section = payload[(1 + payload[0])..];
        if (section.Length < 12 || section[0] != 0x00)
        {
            return;
        }

        var sectionLength = ((section[1] & 0x0F) << 8) | section[2];
        var end = Math.Min(section.Length, 3 + sectionLength) - 4; // the CRC-32 closes the section
        for (var at = 8; at + 4 <= end; at += 4)
        {
            var program = BinaryPrimitives.ReadUInt16BigEndian(section[at..]);
            if (program != 0)
            {
                pmtPids.Add(((section[at + 2] & 0x1F) << 8) | section[at + 3]);
            }
        }
    }

    /// <summary>Writes a marker null packet into <paramref name="packet"/> (188 bytes).</summary>
    public static void WriteMarker(Span<byte> packet, uint runId, long sequence, long sentTicks, long offsetAfter)
    {
        packet[0] = SyncByte;
        packet[1] = (byte)(NullPid >> 8);
        packet[2] = NullPid & 0xFF;
        packet[3] = 0x10; // payload only; a null packet's counter is undefined, left at 0
        var payload = packet[MarkerPayloadOffset..Size];
        payload.Fill(0xFF);
        BinaryPrimitives.WriteUInt64BigEndian(payload, MarkerMagic);
        BinaryPrimitives.WriteUInt32BigEndian(payload[8..], runId);
        BinaryPrimitives.WriteInt64BigEndian(payload[12..], sequence);
        BinaryPrimitives.WriteInt64BigEndian(payload[20..], sentTicks);
        BinaryPrimitives.WriteInt64BigEndian(payload[28..], offsetAfter);
    }

    /// <summary>Reads a marker; false when the packet is not one (any other null packet, another run's marker).</summary>
    public static bool TryReadMarker(ReadOnlySpan<byte> packet, uint runId, out long sequence, out long sentTicks, out long offsetAfter)
    {
        sequence = sentTicks = offsetAfter = 0;
        if (runId == 0)
        {
            return false;
        }

        var payload = packet[MarkerPayloadOffset..Size];
        if (Pid(packet) != NullPid || (packet[3] & 0x30) != 0x10 || BinaryPrimitives.ReadUInt64BigEndian(payload) != MarkerMagic
            || BinaryPrimitives.ReadUInt32BigEndian(payload[8..]) != runId)
        {
            return false;
        }

        sequence = BinaryPrimitives.ReadInt64BigEndian(payload[12..]);
        sentTicks = BinaryPrimitives.ReadInt64BigEndian(payload[20..]);
        offsetAfter = BinaryPrimitives.ReadInt64BigEndian(payload[28..]);
        return true;
    }
}
