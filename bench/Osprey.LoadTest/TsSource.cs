namespace Osprey.LoadTest;

/// <summary>
/// A transport stream file loaded for publishing: its whole packets, cut into the writes a publisher makes, each
/// with the time (from the loop's start) at which it is due, so that the file plays at real time when looped.
/// </summary>
/// <remarks>
/// <para>Writes: <see cref="PesWrites"/> (0) cuts as ffmpeg's HTTP output does (one flush per muxed packet: the
/// tables written before a PES go with it, and a write never exceeds ffmpeg's 32 KiB I/O buffer); any other value
/// is a fixed size, rounded down to whole packets (1316 = 7 packets, the usual UDP payload).</para>
/// <para>Timing: from the file's program clock references, interpolated by packet between them and extrapolated
/// at their mean rate before the first and after the last. A write is due at the time of its first packet, except
/// that the pieces of a muxed packet cut at ffmpeg's buffer size follow each other at once, as ffmpeg sends them
/// (<c>-re</c> paces whole packets by their time stamps). Without two PCRs, or with an explicit bit rate, the file
/// is sent at a constant byte rate.</para>
/// </remarks>
internal sealed class TsSource
{
    /// <summary>Cut writes as ffmpeg does (see remarks).</summary>
    public const int PesWrites = 0;

    /// <summary>ffmpeg's AVIOContext buffer: it writes at most this much at once, rounded down here to whole packets.</summary>
    public const int FfmpegBufferBytes = 32 * 1024;

    /// <summary>Largest file accepted (it is held in memory).</summary>
    public const long MaxFileBytes = 512L * 1024 * 1024;

    private TsSource(string path, byte[] packets, int[] writeStarts, double[] writeDue, double loopSeconds, bool fromPcr, int writeSize)
    {
        Path = path;
        Packets = packets;
        WriteStarts = writeStarts;
        WriteDue = writeDue;
        LoopSeconds = loopSeconds;
        TimedByPcr = fromPcr;
        WriteSize = writeSize;
    }

    public string Path { get; }

    /// <summary>The file's whole packets (from the first sync on).</summary>
    public byte[] Packets { get; }

    public int PacketCount => Packets.Length / TsPackets.Size;

    /// <summary>First packet of each write; a write ends where the next starts (the last at <see cref="PacketCount"/>).</summary>
    public int[] WriteStarts { get; }

    /// <summary>Seconds from the loop's start at which each write is due.</summary>
    public double[] WriteDue { get; }

    /// <summary>Length of one pass over the file when played at real time.</summary>
    public double LoopSeconds { get; }

    /// <summary>True when the timing came from the file's PCRs, false for a constant rate.</summary>
    public bool TimedByPcr { get; }

    /// <summary>The write size asked for (<see cref="PesWrites"/> or bytes).</summary>
    public int WriteSize { get; }

    /// <summary>The file's bit rate at real time.</summary>
    public double BitsPerSecond => Packets.Length * 8.0 / LoopSeconds;

    public int WriteCount => WriteStarts.Length;

    /// <summary>Packets in write <paramref name="index"/>.</summary>
    public int WritePackets(int index) => (index + 1 < WriteStarts.Length ? WriteStarts[index + 1] : PacketCount) - WriteStarts[index];

    /// <summary>The largest write, in packets.</summary>
    public int MaxWritePackets => Enumerable.Range(0, WriteCount).Max(WritePackets);

    /// <summary>Reads and cuts <paramref name="path"/>; throws <see cref="ArgumentException"/> for a file that is not a usable transport stream.</summary>
    /// <param name="path">A transport stream file (188-byte packets).</param>
    /// <param name="writeSize"><see cref="PesWrites"/>, or bytes per write (at least one packet).</param>
    /// <param name="bitsPerSecond">A constant rate to send at instead of the file's PCR timing; null to use the PCRs.</param>
    public static TsSource Load(string path, int writeSize, double? bitsPerSecond)
    {
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new ArgumentException($"ts file {path}: no such file");
            }

            if (info.Length > MaxFileBytes)
            {
                throw new ArgumentException($"ts file {path}: larger than {MaxFileBytes / (1024 * 1024)} MiB");
            }

            data = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"ts file {path}: {ex.Message}", ex);
        }

        var packets = Align(data) ?? throw new ArgumentException($"ts file {path}: no MPEG-TS packets (no sync byte repeating every 188 bytes)");
        var count = packets.Length / TsPackets.Size;
        if (count < 2)
        {
            throw new ArgumentException($"ts file {path}: fewer than 2 packets");
        }

        var starts = writeSize == PesWrites ? CutLikeFfmpeg(packets) : CutFixed(count, Math.Max(1, writeSize / TsPackets.Size));
        var times = new double[count];
        var fromPcr = bitsPerSecond is null && TryTimeByPcr(packets, times);
        double loop;
        if (fromPcr)
        {
            // One packet's share past the last one, so the loop's next pass starts a packet interval later.
            loop = times[^1] + ((times[^1] - times[0]) / (count - 1));
        }
        else
        {
            var rate = bitsPerSecond ?? 0;
            if (rate <= 0)
            {
                throw new ArgumentException($"ts file {path}: fewer than two program clock references, so give a bit rate to send it at");
            }

            var packetSeconds = TsPackets.Size * 8 / rate;
            for (var i = 0; i < count; i++)
            {
                times[i] = i * packetSeconds;
            }

            loop = count * packetSeconds;
        }

        // ffmpeg writes a muxed packet at once: the pieces of one cut at the buffer size go back to back.
        var due = new double[starts.Length];
        var pmtPids = FindPmtPids(packets);
        for (var i = 0; i < starts.Length; i++)
        {
            var continues = writeSize == PesWrites && i > 0 && !StartsUnit(packets, starts[i], pmtPids);
            due[i] = continues ? due[i - 1] : times[starts[i]];
        }

        return new TsSource(path, packets, starts, due, loop, fromPcr, writeSize);
    }

    /// <summary>The packets from the first place where three sync bytes stand 188 bytes apart, up to the first lost sync; null when there is none.</summary>
    internal static byte[]? Align(ReadOnlySpan<byte> data)
    {
        var limit = Math.Min(data.Length - (2 * TsPackets.Size) - 1, TsPackets.Size * 4);
        for (var start = 0; start <= limit; start++)
        {
            if (data[start] != TsPackets.SyncByte || data[start + TsPackets.Size] != TsPackets.SyncByte || data[start + (2 * TsPackets.Size)] != TsPackets.SyncByte)
            {
                continue;
            }

            var end = start;
            while (end + TsPackets.Size <= data.Length && data[end] == TsPackets.SyncByte)
            {
                end += TsPackets.Size;
            }

            return data[start..end].ToArray();
        }

        return null;
    }

    /// <summary>
    /// ffmpeg flushes its output after each muxed packet: a write starts at a PES start on an elementary stream, with
    /// the tables (and null packets) right before it, and is cut again when it would exceed ffmpeg's buffer.
    /// </summary>
    internal static int[] CutLikeFfmpeg(ReadOnlySpan<byte> packets)
    {
        var count = packets.Length / TsPackets.Size;
        var maxPackets = FfmpegBufferBytes / TsPackets.Size;
        var pmtPids = new HashSet<int>();
        var starts = new List<int> { 0 };
        var tableRunStart = -1;
        for (var i = 0; i < count; i++)
        {
            var packet = packets.Slice(i * TsPackets.Size, TsPackets.Size);
            var pid = TsPackets.Pid(packet);
            if (pid == TsPackets.PatPid)
            {
                TsPackets.ReadPatPmtPids(packet, pmtPids);
            }

            var isTable = pid <= TsPackets.LastTablePid || pmtPids.Contains(pid);
            if (isTable || pid == TsPackets.NullPid)
            {
                if (tableRunStart < 0)
                {
                    tableRunStart = i;
                }
            }
            else
            {
                var cut = TsPackets.IsPayloadUnitStart(packet) ? (tableRunStart >= 0 ? tableRunStart : i) : -1;
                if (cut > starts[^1])
                {
                    starts.Add(cut);
                }

                tableRunStart = -1;
            }

            if (i + 1 - starts[^1] >= maxPackets && i + 1 < count)
            {
                starts.Add(i + 1);
                tableRunStart = -1;
            }
        }

        return [.. starts];
    }

    /// <summary>True when the write starting at packet <paramref name="start"/> begins a new muxed packet (a PES start, tables, null packets) rather than continuing the previous write's.</summary>
    private static bool StartsUnit(ReadOnlySpan<byte> packets, int start, HashSet<int> pmtPids)
    {
        var packet = packets.Slice(start * TsPackets.Size, TsPackets.Size);
        var pid = TsPackets.Pid(packet);
        return TsPackets.IsPayloadUnitStart(packet) || pid == TsPackets.NullPid || pid <= TsPackets.LastTablePid || pmtPids.Contains(pid);
    }

    /// <summary>Every PMT PID the file's PATs name.</summary>
    private static HashSet<int> FindPmtPids(ReadOnlySpan<byte> packets)
    {
        var pmtPids = new HashSet<int>();
        for (var at = 0; at + TsPackets.Size <= packets.Length; at += TsPackets.Size)
        {
            var packet = packets.Slice(at, TsPackets.Size);
            if (TsPackets.Pid(packet) == TsPackets.PatPid)
            {
                TsPackets.ReadPatPmtPids(packet, pmtPids);
            }
        }

        return pmtPids;
    }

    private static int[] CutFixed(int count, int packetsPerWrite)
    {
        var starts = new int[(count + packetsPerWrite - 1) / packetsPerWrite];
        for (var i = 0; i < starts.Length; i++)
        {
            starts[i] = i * packetsPerWrite;
        }

        return starts;
    }

    /// <summary>Fills <paramref name="times"/> (seconds, from 0) from the PCRs of the first PID that carries them; false with fewer than two.</summary>
    private static bool TryTimeByPcr(ReadOnlySpan<byte> packets, double[] times)
    {
        var count = times.Length;
        var pcrPid = -1;
        var points = new List<(int Packet, double Seconds)>();
        for (var i = 0; i < count; i++)
        {
            var packet = packets.Slice(i * TsPackets.Size, TsPackets.Size);
            if (TsPackets.TryGetPcrSeconds(packet, out var pcr) && (pcrPid < 0 || TsPackets.Pid(packet) == pcrPid))
            {
                pcrPid = TsPackets.Pid(packet);
                // A clock that goes back (a wrap, a spliced file) ends the usable part.
                if (points.Count > 0 && pcr <= points[^1].Seconds)
                {
                    break;
                }

                points.Add((i, pcr));
            }
        }

        if (points.Count < 2)
        {
            return false;
        }

        var (firstPacket, firstSeconds) = points[0];
        var (lastPacket, lastSeconds) = points[^1];
        var packetSeconds = (lastSeconds - firstSeconds) / (lastPacket - firstPacket);
        var segment = 0;
        for (var i = 0; i < count; i++)
        {
            if (i <= firstPacket)
            {
                times[i] = firstSeconds - ((firstPacket - i) * packetSeconds);
            }
            else if (i >= lastPacket)
            {
                times[i] = lastSeconds + ((i - lastPacket) * packetSeconds);
            }
            else
            {
                while (points[segment + 1].Packet < i)
                {
                    segment++;
                }

                var (p0, t0) = points[segment];
                var (p1, t1) = points[segment + 1];
                times[i] = t0 + ((t1 - t0) * (i - p0) / (p1 - p0));
            }
        }

        var origin = times[0];
        for (var i = 0; i < count; i++)
        {
            times[i] -= origin;
        }

        return true;
    }
}
