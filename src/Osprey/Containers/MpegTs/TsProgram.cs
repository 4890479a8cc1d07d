using System.Text;

namespace Osprey.Containers.MpegTs;

/// <summary>What an elementary stream carries, as far as cutting and combining streams needs to know.</summary>
public enum TsStreamKind
{
    /// <summary>Data, subtitles, metadata or an unknown stream type.</summary>
    Other,

    /// <summary>Pictures: key frames start chunks.</summary>
    Video,

    /// <summary>Sound: every frame is a start point, so in an audio-only stream every PES starts a chunk.</summary>
    Audio,
}

/// <summary>
/// One programme of a transport stream as its PMT describes it (ISO/IEC 13818-1 §2.4.4.8): the PIDs of its
/// elementary streams with their stream types and descriptors, and the PID carrying its clock.
/// </summary>
/// <remarks>Immutable. Made when a PMT changes (rarely), so it may allocate.</remarks>
public sealed class TsProgram
{
    /// <summary>Creates a programme.</summary>
    /// <param name="programNumber">program_number (1-65535).</param>
    /// <param name="pmtPid">The PID its PMT is sent on.</param>
    /// <param name="pcrPid">PCR_PID; <see cref="TsPacket.NullPid"/> when the programme has no clock.</param>
    /// <param name="streams">The elementary streams, in PMT order.</param>
    /// <param name="programInfo">The programme-level descriptors, as bytes.</param>
    /// <param name="version">The PMT's version_number it was read from (0-31).</param>
    public TsProgram(int programNumber, int pmtPid, int pcrPid, IReadOnlyList<TsElementaryStream> streams, ReadOnlyMemory<byte> programInfo = default, int version = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)programNumber, 0xFFFFu, nameof(programNumber));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pmtPid, (uint)TsPacket.MaxPid, nameof(pmtPid));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pcrPid, (uint)TsPacket.MaxPid, nameof(pcrPid));
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)version, 31u, nameof(version));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(programInfo.Length, 0x3FF, nameof(programInfo));
        ProgramNumber = programNumber;
        PmtPid = pmtPid;
        PcrPid = pcrPid;
        Streams = streams;
        ProgramInfo = programInfo;
        Version = version;
        foreach (var stream in streams)
        {
            HasVideo |= stream.Kind == TsStreamKind.Video;
            HasAudio |= stream.Kind == TsStreamKind.Audio;
        }
    }

    /// <summary>program_number.</summary>
    public int ProgramNumber { get; }

    /// <summary>The PID of the programme's PMT.</summary>
    public int PmtPid { get; }

    /// <summary>PCR_PID: the PID whose adaptation fields carry the programme's clock (<see cref="TsPacket.NullPid"/>: none).</summary>
    public int PcrPid { get; }

    /// <summary>The version_number of the PMT this was read from.</summary>
    public int Version { get; }

    /// <summary>The programme-level descriptors (program_info), as bytes.</summary>
    public ReadOnlyMemory<byte> ProgramInfo { get; }

    /// <summary>The elementary streams, in PMT order.</summary>
    public IReadOnlyList<TsElementaryStream> Streams { get; }

    /// <summary>True when a stream is video.</summary>
    public bool HasVideo { get; }

    /// <summary>True when a stream is audio.</summary>
    public bool HasAudio { get; }

    /// <summary>The stream on <paramref name="pid"/>, or null.</summary>
    public TsElementaryStream? Find(int pid)
    {
        foreach (var stream in Streams)
        {
            if (stream.Pid == pid)
            {
                return stream;
            }
        }

        return null;
    }

    /// <summary>
    /// Reads the programme from PSI packets (a PAT then a PMT, such as <see cref="TsChunker.HeaderPackets"/> or a
    /// feed's header); null when they hold no complete, valid pair.
    /// </summary>
    public static TsProgram? FromPsiPackets(ReadOnlySpan<byte> packets)
    {
        var tracker = new TsPsiTracker();
        for (var offset = 0; offset + TsPacket.Size <= packets.Length; offset += TsPacket.Size)
        {
            var packet = packets.Slice(offset, TsPacket.Size);
            if (TsPacket.HasSync(packet))
            {
                tracker.Push(packet);
            }
        }

        return tracker.Program;
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("program ").Append(ProgramNumber).Append(" pmt 0x").Append(PmtPid.ToString("X", null))
            .Append(" pcr 0x").Append(PcrPid.ToString("X", null)).Append(':');
        foreach (var stream in Streams)
        {
            text.Append(' ').Append(stream);
        }

        return text.ToString();
    }
}

/// <summary>One elementary stream of a <see cref="TsProgram"/>: a PID, its stream_type and its ES_info descriptors.</summary>
public sealed class TsElementaryStream
{
    /// <summary>Creates a stream; its kind and codec name follow from the type and descriptors.</summary>
    public TsElementaryStream(int pid, byte streamType, ReadOnlyMemory<byte> descriptors = default)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)pid, (uint)TsPacket.MaxPid, nameof(pid));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(descriptors.Length, 0x3FF, nameof(descriptors));
        Pid = pid;
        StreamType = streamType;
        Descriptors = descriptors;
        (Kind, Codec) = TsStreamTypes.Describe(streamType, descriptors.Span);
    }

    /// <summary>elementary_PID.</summary>
    public int Pid { get; }

    /// <summary>stream_type (Table 2-34, e.g. 0x1B for H.264).</summary>
    public byte StreamType { get; }

    /// <summary>The ES_info descriptors, as bytes.</summary>
    public ReadOnlyMemory<byte> Descriptors { get; }

    /// <summary>Video, audio or other.</summary>
    public TsStreamKind Kind { get; }

    /// <summary>A short codec name in ffmpeg's spelling where one exists (<c>h264</c>, <c>mpeg1video</c>, <c>aac</c>, ...).</summary>
    public string Codec { get; }

    /// <inheritdoc />
    public override string ToString() => $"0x{Pid:X} {Codec} (type 0x{StreamType:X2})";
}
