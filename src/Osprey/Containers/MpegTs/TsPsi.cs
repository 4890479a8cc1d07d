using System.Buffers.Binary;

namespace Osprey.Containers.MpegTs;

/// <summary>
/// Reads and writes the program association and program map sections (ISO/IEC 13818-1 §2.4.4.3, §2.4.4.8) and
/// splits sections into transport stream packets.
/// </summary>
/// <remarks>
/// Sections are the bytes from table_id to the end of CRC_32. Readers check structure and return false or null for
/// anything malformed; they do not check the CRC, which <see cref="TsSectionAssembler"/> already did (use
/// <see cref="TsCrc32.IsValid"/> for sections from elsewhere).
/// </remarks>
public static class TsPsi
{
    /// <summary>table_id of a program association section.</summary>
    public const byte PatTableId = 0x00;

    /// <summary>table_id of a program map section.</summary>
    public const byte PmtTableId = 0x02;

    /// <summary>The largest PAT or PMT section: section_length is at most 1021 (§2.4.4.5, §2.4.4.10).</summary>
    public const int MaxSectionSize = 1024;

    /// <summary>Bytes of a PAT with one programme.</summary>
    public const int PatSize = 16;

    /// <summary>
    /// Reads the syntax header common to PAT and PMT; false when the section is too short, lacks
    /// section_syntax_indicator, or its section_length does not match its size.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> section, out TsSectionHeader header)
    {
        header = default;
        if (section.Length < 12 || (section[1] & 0x80) == 0)
        {
            return false;
        }

        var length = 3 + (((section[1] & 0x0F) << 8) | section[2]);
        if (length != section.Length || length > MaxSectionSize)
        {
            return false;
        }

        header = new TsSectionHeader(
            section[0],
            BinaryPrimitives.ReadUInt16BigEndian(section[3..]),
            (section[5] >> 1) & 0x1F,
            (section[5] & 0x01) != 0,
            section[6],
            section[7]);
        return true;
    }

    /// <summary>
    /// Reads the first programme (program_number ≠ 0; 0 names the network PID) of a PAT section.
    /// </summary>
    public static bool TryReadPat(ReadOnlySpan<byte> section, out int transportStreamId, out int programNumber, out int pmtPid)
    {
        transportStreamId = programNumber = pmtPid = 0;
        if (!TryReadHeader(section, out var header) || header.TableId != PatTableId || (section.Length - 12) % 4 != 0)
        {
            return false;
        }

        transportStreamId = header.TableIdExtension;
        for (var index = 0; TryGetPatEntry(section, index, out var number, out var pid); index++)
        {
            if (number != 0)
            {
                programNumber = number;
                pmtPid = pid;
                return true;
            }
        }

        return false;
    }

    /// <summary>The <paramref name="index"/>th (program_number, PID) pair of a PAT section; false past the last.</summary>
    public static bool TryGetPatEntry(ReadOnlySpan<byte> section, int index, out int programNumber, out int pid)
    {
        var offset = 8 + (4 * index);
        if (index < 0 || offset + 4 > section.Length - 4)
        {
            programNumber = pid = 0;
            return false;
        }

        programNumber = BinaryPrimitives.ReadUInt16BigEndian(section[offset..]);
        pid = BinaryPrimitives.ReadUInt16BigEndian(section[(offset + 2)..]) & 0x1FFF;
        return true;
    }

    /// <summary>Reads a PMT section sent on <paramref name="pmtPid"/>; null when it is malformed.</summary>
    public static TsProgram? ReadPmt(ReadOnlySpan<byte> section, int pmtPid)
    {
        if (!TryReadHeader(section, out var header) || header.TableId != PmtTableId || section.Length < 16)
        {
            return null;
        }

        var end = section.Length - 4;
        var pcrPid = BinaryPrimitives.ReadUInt16BigEndian(section[8..]) & 0x1FFF;
        var infoLength = BinaryPrimitives.ReadUInt16BigEndian(section[10..]) & 0x0FFF;
        var offset = 12 + infoLength;
        if (offset > end)
        {
            return null;
        }

        var programInfo = section[12..offset].ToArray();
        var streams = new List<TsElementaryStream>();
        while (offset < end)
        {
            if (offset + 5 > end)
            {
                return null;
            }

            var streamType = section[offset];
            var pid = BinaryPrimitives.ReadUInt16BigEndian(section[(offset + 1)..]) & 0x1FFF;
            var esInfoLength = BinaryPrimitives.ReadUInt16BigEndian(section[(offset + 3)..]) & 0x0FFF;
            offset += 5;
            if (offset + esInfoLength > end)
            {
                return null;
            }

            streams.Add(new TsElementaryStream(pid, streamType, section.Slice(offset, esInfoLength).ToArray()));
            offset += esInfoLength;
        }

        return new TsProgram(header.TableIdExtension, pmtPid, pcrPid, streams.ToArray(), programInfo, header.Version);
    }

    /// <summary>Writes a PAT section with one programme; returns its size (<see cref="PatSize"/>).</summary>
    public static int WritePat(Span<byte> destination, int transportStreamId, int version, int programNumber, int pmtPid)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, PatSize, nameof(destination));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pmtPid, (uint)TsPacket.MaxPid, nameof(pmtPid));
        WriteHeader(destination, PatTableId, PatSize, transportStreamId, version);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], (ushort)programNumber);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)(0xE000 | pmtPid));
        WriteCrc(destination[..PatSize]);
        return PatSize;
    }

    /// <summary>The size of <paramref name="program"/>'s PMT section; more than <see cref="MaxSectionSize"/> does not fit one.</summary>
    public static int GetPmtSize(TsProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var size = 12 + program.ProgramInfo.Length + 4;
        foreach (var stream in program.Streams)
        {
            size += 5 + stream.Descriptors.Length;
        }

        return size;
    }

    /// <summary>
    /// Writes <paramref name="program"/>'s PMT section with <paramref name="version"/> (its own
    /// <see cref="TsProgram.Version"/> is not used); returns its size. Throws when it exceeds
    /// <see cref="MaxSectionSize"/>.
    /// </summary>
    public static int WritePmt(Span<byte> destination, TsProgram program, int version)
    {
        var size = GetPmtSize(program);
        if (size > MaxSectionSize)
        {
            throw new ArgumentException($"The PMT would be {size} bytes; a section holds {MaxSectionSize} at most.", nameof(program));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, size, nameof(destination));
        WriteHeader(destination, PmtTableId, size, program.ProgramNumber, version);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], (ushort)(0xE000 | program.PcrPid));
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)(0xF000 | program.ProgramInfo.Length));
        program.ProgramInfo.Span.CopyTo(destination[12..]);
        var offset = 12 + program.ProgramInfo.Length;
        foreach (var stream in program.Streams)
        {
            destination[offset] = stream.StreamType;
            BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 1)..], (ushort)(0xE000 | stream.Pid));
            BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 3)..], (ushort)(0xF000 | stream.Descriptors.Length));
            stream.Descriptors.Span.CopyTo(destination[(offset + 5)..]);
            offset += 5 + stream.Descriptors.Length;
        }

        WriteCrc(destination[..size]);
        return size;
    }

    /// <summary>Packets needed to carry a section of <paramref name="sectionSize"/> bytes (pointer_field included).</summary>
    public static int GetPacketCount(int sectionSize) => (sectionSize + 1 + TsPacket.MaxPayloadSize - 1) / TsPacket.MaxPayloadSize;

    /// <summary>
    /// Writes <paramref name="section"/> as packets of <paramref name="pid"/>: pointer_field 0 in the first, the
    /// rest of the last packet 0xFF stuffing, continuity counters from <paramref name="continuityCounter"/> on (it
    /// is left at the next one to use). Returns the bytes written, a multiple of 188.
    /// </summary>
    public static int Packetize(Span<byte> destination, int pid, ReadOnlySpan<byte> section, ref int continuityCounter)
    {
        var count = GetPacketCount(section.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, count * TsPacket.Size, nameof(destination));
        for (var i = 0; i < count; i++)
        {
            var packet = destination.Slice(i * TsPacket.Size, TsPacket.Size);
            TsPacket.WriteHeader(packet, pid, payloadUnitStart: i == 0, continuityCounter);
            continuityCounter = (continuityCounter + 1) & 0x0F;
            var payload = packet[TsPacket.HeaderSize..];
            if (i == 0)
            {
                payload[0] = 0; // pointer_field: the section starts right after it
                payload = payload[1..];
            }

            var take = Math.Min(payload.Length, section.Length);
            section[..take].CopyTo(payload);
            payload[take..].Fill(0xFF);
            section = section[take..];
        }

        return count * TsPacket.Size;
    }

    private static void WriteHeader(Span<byte> destination, byte tableId, int size, int tableIdExtension, int version)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)tableIdExtension, 0xFFFFu, nameof(tableIdExtension));
        destination[0] = tableId;
        // section_syntax_indicator 1, '0', reserved 11, then section_length (bytes after it, CRC included).
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)(0xB000 | (size - 3)));
        BinaryPrimitives.WriteUInt16BigEndian(destination[3..], (ushort)tableIdExtension);
        destination[5] = (byte)(0xC0 | ((version & 0x1F) << 1) | 0x01); // reserved 11, version, current_next 1
        destination[6] = 0; // section_number
        destination[7] = 0; // last_section_number
    }

    private static void WriteCrc(Span<byte> section) =>
        BinaryPrimitives.WriteUInt32BigEndian(section[^4..], TsCrc32.Compute(section[..^4]));
}

/// <summary>The long-form header of a PSI section (§2.4.4.5).</summary>
/// <param name="TableId">table_id.</param>
/// <param name="TableIdExtension">transport_stream_id for a PAT, program_number for a PMT.</param>
/// <param name="Version">version_number (0-31).</param>
/// <param name="IsCurrent">current_next_indicator: true when the table applies now, false for the next one.</param>
/// <param name="SectionNumber">section_number.</param>
/// <param name="LastSectionNumber">last_section_number.</param>
public readonly record struct TsSectionHeader(byte TableId, int TableIdExtension, int Version, bool IsCurrent, int SectionNumber, int LastSectionNumber);
