namespace Osprey.Containers.MpegTs;

/// <summary>Receives what a <see cref="TsChunker"/> makes of a transport stream.</summary>
public interface ITsChunkSink
{
    /// <summary>A chunk of whole 188-byte packets, in stream order.</summary>
    /// <param name="packets">The packets; valid only during the call (the chunker's buffer).</param>
    /// <param name="isKey">True when the chunk starts at a point a decoder can start from (see <see cref="TsChunker"/>).</param>
    void OnChunk(ReadOnlySpan<byte> packets, bool isKey);

    /// <summary>
    /// The PSI header changed: called before the first chunk that belongs to it, after the last chunk of the old one.
    /// </summary>
    /// <param name="psiPackets">
    /// The latest PAT and PMT as standalone packets (<see cref="TsPsiTracker.HeaderPackets"/>); never written
    /// again, so it may be kept without copying.
    /// </param>
    void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets);
}

/// <summary>
/// The ingest parser of an MPEG transport stream (ffmpeg's <c>-f mpegts</c> POSTed to the server, in reads of any
/// size): aligns the bytes to 188-byte packets, follows the PAT and PMT, and cuts the packets into chunks so that a
/// chunk starts at every random access point, where a viewer can start decoding.
/// </summary>
/// <remarks>
/// <para><b>Random access points.</b> The first packet of a PES (payload_unit_start_indicator) on a video PID whose
/// adaptation field has random_access_indicator set (ffmpeg sets it on key frames) or whose payload, in that first
/// packet, holds an MPEG-1/2 sequence header (00 00 01 B3: what jsmpeg needs), an H.264 SPS or IDR slice, or an
/// HEVC parameter set or IRAP slice. Video PIDs come from the PMT (stream_type) or, without one (jsmpeg ignores
/// PAT and PMT), from the PES stream_id: 0xE0-0xEF video, 0xC0-0xDF audio. When the programme has no video at all
/// (an audio-only feed) every audio PES start is a random access point. random_access_indicator on audio PIDs is
/// ignored otherwise: ffmpeg sets it on every audio frame.</para>
/// <para><b>Chunks.</b> A new chunk starts before each random access point, and the PSI packets (PAT, PMT, SDT ...)
/// right before it belong to it: ffmpeg writes PAT and PMT just before each key frame, so a key chunk reads
/// <c>[SDT] PAT PMT video-PES-start ...</c>. <see cref="Flush"/> (after each network read) hands out what is
/// pending except such a trailing run of PSI packets, which waits for the next packet to know whether it opens a
/// key chunk: so chunks add no latency but a PSI packet's. A chunk is also cut when it would exceed the maximum
/// size; the following one is then not a key chunk. A change of the PSI header cuts the chunk before the PSI that
/// changes it and calls <see cref="ITsChunkSink.OnHeaderChanged"/>, so every chunk belongs to one header.</para>
/// <para><b>Alignment.</b> A packet is accepted while it starts with the sync byte at the expected place. Sync is
/// (re)gained at a sync byte followed by sync bytes 188 and 376 bytes further on; until those bytes arrive at most
/// 376 bytes wait. Skipped bytes are counted in <see cref="DiscardedBytes"/>, regained alignments in
/// <see cref="ResyncCount"/>. Decisions depend only on the bytes, never on how reads split them, except where
/// <see cref="Flush"/> cuts. A packet that lost a byte is passed on damaged (one packet, as a decoder would see it)
/// and alignment is regained after it.</para>
/// <para><b>Memory.</b> At most <see cref="MaxChunkSize"/> bytes of pending chunk (grown by doubling up to it, then
/// reused), 752 bytes of carried-over input, two PSI section buffers and three 8 KiB per-PID tables. Nothing is
/// allocated per packet or per chunk; only a PSI change allocates (the new programme and header). Never throws for
/// bad input. Not thread-safe; the sink must not call back into the chunker.</para>
/// </remarks>
public sealed class TsChunker
{
    /// <summary>The default largest chunk: 256 KiB, rounded down to whole packets.</summary>
    public const int DefaultMaxChunkSize = 256 * 1024;

    private const int CarryCapacity = 4 * TsPacket.Size;
    private const int InitialChunkCapacity = 64 * 1024;
    private const byte NoCounter = 0xFF;

    private readonly int _maxChunkSize;
    private readonly byte[] _carry = new byte[CarryCapacity];
    private int _carryStart;
    private int _carryLength;
    private bool _synced;
    private bool _lostSync;
    private long _discardedSinceSync;

    private byte[] _chunk = [];
    private int _chunkLength;
    private bool _chunkIsKey;
    // Where the run of PSI packets at the end of the pending chunk starts; -1 when its last packet is not PSI.
    private int _psiRunStart = -1;

    private readonly TsPsiTracker _psi = new();
    private readonly PidKind[] _pidKinds = new PidKind[TsPacket.MaxPid + 1];
    private readonly TsVideoCodec[] _pidCodecs = new TsVideoCodec[TsPacket.MaxPid + 1];
    private readonly byte[] _lastCounters = new byte[TsPacket.MaxPid + 1];
    private bool _hasVideo;
    private int _pcrPid = -1;

    /// <summary>Creates a chunker.</summary>
    /// <param name="maxChunkSize">The largest chunk in bytes, rounded down to whole packets (at least 8 packets).</param>
    public TsChunker(int maxChunkSize = DefaultMaxChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkSize, 8 * TsPacket.Size);
        _maxChunkSize = maxChunkSize / TsPacket.Size * TsPacket.Size;
        _lastCounters.AsSpan().Fill(NoCounter);
        ResetPidTables();
    }

    private enum PidKind : byte
    {
        Unknown,
        Video,
        Audio,
        Other,
        Psi,
        Null,
    }

    /// <summary>The largest chunk, in bytes (a multiple of 188).</summary>
    public int MaxChunkSize => _maxChunkSize;

    /// <summary>Packets accepted.</summary>
    public long Packets { get; private set; }

    /// <summary>Bytes of packets accepted (188 per packet).</summary>
    public long Bytes => Packets * TsPacket.Size;

    /// <summary>Chunks handed out.</summary>
    public long Chunks { get; private set; }

    /// <summary>Chunks handed out that start at a random access point.</summary>
    public long KeyChunks { get; private set; }

    /// <summary>Chunks cut because they reached <see cref="MaxChunkSize"/>.</summary>
    public long SizeCuts { get; private set; }

    /// <summary>
    /// Times packet alignment was found again after it was lost (a packet not starting with the sync byte) or after
    /// bytes were skipped to find it at the start.
    /// </summary>
    public long ResyncCount { get; private set; }

    /// <summary>Bytes skipped because they were not part of an aligned packet.</summary>
    public long DiscardedBytes { get; private set; }

    /// <summary>
    /// Packets whose continuity_counter did not follow the previous one of their PID (§2.4.3.3: a packet was lost,
    /// or arrived twice more than once), outside a signalled discontinuity; null packets are not counted.
    /// </summary>
    public long ContinuityErrors { get; private set; }

    /// <summary>PAT and PMT sections dropped for a bad CRC, a broken sequence of packets or a malformed structure.</summary>
    public long PsiErrors => _psi.CrcErrors + _psi.BadSections;

    /// <summary>
    /// The latest program clock reference, in 27 MHz units (base × 300 + extension), from the programme's PCR PID
    /// (from any PID before the PMT is known); -1 before the first.
    /// </summary>
    public long LastPcr { get; private set; } = -1;

    /// <summary>The programme from the latest PAT and PMT; null before they are known.</summary>
    public TsProgram? Program => _psi.Program;

    /// <summary>The latest PAT and PMT as standalone packets; empty before both are known.</summary>
    public ReadOnlyMemory<byte> HeaderPackets => _psi.HeaderPackets;

    /// <summary>True when the programme has video (from the PMT, or a video PES seen without one).</summary>
    public bool HasVideo => _hasVideo;

    /// <summary>Bytes held now: the pending chunk and carried-over input (for tests that check it stays bounded).</summary>
    internal int BufferedBytes => _chunkLength + _carryLength;

    /// <summary>Input bytes carried over to the next write (a partial packet, or bytes waiting for alignment).</summary>
    internal int CarriedBytes => _carryLength;

    /// <summary>The capacity of the internal buffers (for tests that check memory stays bounded).</summary>
    internal int BufferCapacity => _chunk.Length + _carry.Length;

    /// <summary>
    /// Consumes <paramref name="data"/> (any number of bytes; a partial packet is carried to the next call) and
    /// hands out every chunk it completes. Never throws for bad data.
    /// </summary>
    /// <remarks>If the sink throws, the exception propagates and the rest of <paramref name="data"/> is not consumed.</remarks>
    public void Write(ReadOnlySpan<byte> data, ITsChunkSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        while (!data.IsEmpty)
        {
            if (!_synced)
            {
                CompactCarry();
                var take = Math.Min(data.Length, CarryCapacity - _carryLength);
                data[..take].CopyTo(_carry.AsSpan(_carryLength));
                _carryLength += take;
                data = data[take..];
                while (TryResync())
                {
                    DrainCarry(sink);
                    if (_synced)
                    {
                        break;
                    }
                }

                continue;
            }

            if (_carryLength > 0)
            {
                // Complete the packet begun in an earlier call.
                CompactCarry();
                var take = Math.Min(TsPacket.Size - _carryLength, data.Length);
                data[..take].CopyTo(_carry.AsSpan(_carryLength));
                _carryLength += take;
                data = data[take..];
                if (_carryLength == TsPacket.Size)
                {
                    DrainCarry(sink);
                }

                continue;
            }

            // The hot path: whole packets straight from the caller's buffer.
            var whole = data.Length / TsPacket.Size * TsPacket.Size;
            var offset = 0;
            while (offset < whole && data[offset] == TsPacket.SyncByte)
            {
                OnPacket(data.Slice(offset, TsPacket.Size), sink);
                offset += TsPacket.Size;
            }

            data = data[offset..];
            if (offset < whole)
            {
                LoseSync();
                continue;
            }

            data.CopyTo(_carry);
            _carryStart = 0;
            _carryLength = data.Length;
            return;
        }
    }

    /// <summary>
    /// Hands out the pending packets as a chunk, except a trailing run of PSI packets (see remarks on the type).
    /// Call it after each network read, so that a chunk never waits for the next read.
    /// </summary>
    public void Flush(ITsChunkSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        Cut(sink, keepPsiRun: true);
    }

    private void OnPacket(ReadOnlySpan<byte> packet, ITsChunkSink sink)
    {
        Packets++;
        var pid = TsPacket.GetPid(packet);
        var kind = _pidKinds[pid];
        CheckContinuity(packet, pid);
        if ((packet[3] & 0x20) != 0 && (pid == _pcrPid || _pcrPid < 0) && TsPacket.TryGetPcr(packet, out var pcr))
        {
            LastPcr = pcr;
        }

        var isKey = false;
        if (kind == PidKind.Psi)
        {
            if (_psi.Push(packet))
            {
                OnPsiChanged(sink);
            }
        }
        else if (kind != PidKind.Null && TsPacket.IsPayloadUnitStart(packet) && !TsPacket.HasTransportError(packet))
        {
            if (kind == PidKind.Unknown)
            {
                kind = Learn(packet, pid);
            }

            isKey = kind switch
            {
                PidKind.Video => IsVideoStartPoint(packet, pid),
                PidKind.Audio => !_hasVideo,
                _ => false,
            };
        }

        if (isKey)
        {
            Cut(sink, keepPsiRun: true);
            _chunkIsKey = true;
        }
        else if (_chunkLength + TsPacket.Size > _maxChunkSize)
        {
            SizeCuts++;
            Cut(sink, keepPsiRun: false);
        }

        EnsureChunkCapacity();
        packet[..TsPacket.Size].CopyTo(_chunk.AsSpan(_chunkLength));
        // Null packets between PSI packets do not end the run (a muxer filling a constant bit rate).
        if (kind == PidKind.Psi || (kind == PidKind.Null && _psiRunStart >= 0))
        {
            if (_psiRunStart < 0)
            {
                _psiRunStart = _chunkLength;
            }
        }
        else
        {
            _psiRunStart = -1;
        }

        _chunkLength += TsPacket.Size;
    }

    private void CheckContinuity(ReadOnlySpan<byte> packet, int pid)
    {
        var control = packet[3] & 0x30;
        if (pid == TsPacket.NullPid || control == 0)
        {
            return; // null packets have no meaningful counter; reserved control values carry nothing
        }

        var counter = (byte)(packet[3] & 0x0F);
        var last = _lastCounters[pid];
        _lastCounters[pid] = counter;
        if (last == NoCounter || TsPacket.IsDiscontinuity(packet))
        {
            return;
        }

        // The counter steps with each packet carrying payload, and stays put on adaptation-only packets; one
        // duplicate of a packet with payload is allowed.
        var expected = (control & 0x10) != 0 ? (last + 1) & 0x0F : last;
        if (counter != expected && counter != last)
        {
            ContinuityErrors++;
        }
    }

    private PidKind Learn(ReadOnlySpan<byte> packet, int pid)
    {
        var streamId = TsRandomAccess.GetStreamId(TsPacket.GetPayload(packet));
        var kind = streamId switch
        {
            >= 0xE0 and <= 0xEF => PidKind.Video,
            >= 0xC0 and <= 0xDF => PidKind.Audio,
            _ => PidKind.Unknown,
        };
        if (kind == PidKind.Video)
        {
            _hasVideo = true;
        }

        _pidKinds[pid] = kind;
        return kind;
    }

    private bool IsVideoStartPoint(ReadOnlySpan<byte> packet, int pid)
    {
        if (TsPacket.IsRandomAccess(packet))
        {
            return true;
        }

        var es = TsRandomAccess.GetPesPayload(TsPacket.GetPayload(packet));
        var codec = _pidCodecs[pid];
        if (codec == TsVideoCodec.Unknown)
        {
            codec = TsRandomAccess.Sniff(es);
            _pidCodecs[pid] = codec;
        }

        return codec != TsVideoCodec.Unknown && TsRandomAccess.IsStartPoint(es, codec);
    }

    private void OnPsiChanged(ITsChunkSink sink)
    {
        ResetPidTables();
        if (_psi.HeaderPackets.IsEmpty)
        {
            return; // a new PAT whose PMT is still to come: the header changes when it arrives
        }

        // What is pending before this PSI run belongs to the old header.
        Cut(sink, keepPsiRun: true);
        sink.OnHeaderChanged(_psi.HeaderPackets);
    }

    private void ResetPidTables()
    {
        var kinds = _pidKinds.AsSpan();
        kinds.Clear();
        kinds[..3].Fill(PidKind.Psi);
        kinds[0x10..0x20].Fill(PidKind.Psi);
        kinds[TsPacket.NullPid] = PidKind.Null;
        _pidCodecs.AsSpan().Clear();
        foreach (var pmtPid in _psi.PmtPids)
        {
            kinds[pmtPid] = PidKind.Psi;
        }

        var program = _psi.Program;
        _hasVideo = program?.HasVideo ?? false;
        _pcrPid = program is null || program.PcrPid == TsPacket.NullPid ? -1 : program.PcrPid;
        if (program is null)
        {
            return;
        }

        foreach (var stream in program.Streams)
        {
            if (kinds[stream.Pid] == PidKind.Psi)
            {
                continue;
            }

            kinds[stream.Pid] = stream.Kind switch
            {
                TsStreamKind.Video => PidKind.Video,
                TsStreamKind.Audio => PidKind.Audio,
                _ => PidKind.Other,
            };
            _pidCodecs[stream.Pid] = TsRandomAccess.CodecOf(stream);
        }
    }

    // Hands out the pending chunk, or with keepPsiRun all of it but a trailing PSI run, which moves to the front
    // to open the next chunk.
    private void Cut(ITsChunkSink sink, bool keepPsiRun)
    {
        var end = keepPsiRun && _psiRunStart >= 0 ? _psiRunStart : _chunkLength;
        if (end == 0)
        {
            return;
        }

        var isKey = _chunkIsKey;
        var rest = _chunkLength - end;
        Chunks++;
        if (isKey)
        {
            KeyChunks++;
        }

        // State first, so that a sink that throws leaves a consistent chunker (that chunk is then lost).
        _chunkIsKey = false;
        _chunkLength = rest;
        _psiRunStart = rest > 0 ? 0 : -1;
        try
        {
            sink.OnChunk(_chunk.AsSpan(0, end), isKey);
        }
        finally
        {
            if (rest > 0)
            {
                _chunk.AsSpan(end, rest).CopyTo(_chunk);
            }
        }
    }

    private void EnsureChunkCapacity()
    {
        if (_chunkLength + TsPacket.Size <= _chunk.Length)
        {
            return;
        }

        // Doubling up to the cap: a few allocations while the first large chunks arrive, none after.
        var size = Math.Min(Math.Max(InitialChunkCapacity, _chunk.Length * 2), _maxChunkSize);
        var grown = GC.AllocateUninitializedArray<byte>(size);
        _chunk.AsSpan(0, _chunkLength).CopyTo(grown);
        _chunk = grown;
    }

    // Processes the whole packets in the carry buffer while aligned; what is left is less than a packet, or the
    // bytes from a packet that lost alignment.
    private void DrainCarry(ITsChunkSink sink)
    {
        while (_carryLength >= TsPacket.Size)
        {
            var packet = _carry.AsSpan(_carryStart, TsPacket.Size);
            if (packet[0] != TsPacket.SyncByte)
            {
                LoseSync();
                return;
            }

            _carryStart += TsPacket.Size;
            _carryLength -= TsPacket.Size;
            OnPacket(packet, sink);
        }

        CompactCarry();
    }

    private void LoseSync()
    {
        _synced = false;
        _lostSync = true;
    }

    // Looks in the carry buffer for a sync byte with two more 188 and 376 bytes on; skips what cannot be one.
    private bool TryResync()
    {
        while (_carryLength > 0)
        {
            var window = _carry.AsSpan(_carryStart, _carryLength);
            var at = window.IndexOf(TsPacket.SyncByte);
            if (at < 0)
            {
                Discard(_carryLength);
                return false;
            }

            Discard(at);
            window = window[at..];
            if ((window.Length > TsPacket.Size && window[TsPacket.Size] != TsPacket.SyncByte) ||
                (window.Length > 2 * TsPacket.Size && window[2 * TsPacket.Size] != TsPacket.SyncByte))
            {
                Discard(1);
                continue;
            }

            if (window.Length <= 2 * TsPacket.Size)
            {
                return false; // wait for the bytes that confirm it
            }

            _synced = true;
            if (_lostSync || _discardedSinceSync > 0)
            {
                ResyncCount++;
            }

            _lostSync = false;
            _discardedSinceSync = 0;
            return true;
        }

        return false;
    }

    private void Discard(int count)
    {
        _carryStart += count;
        _carryLength -= count;
        DiscardedBytes += count;
        _discardedSinceSync += count;
        if (_carryLength == 0)
        {
            _carryStart = 0;
        }
    }

    private void CompactCarry()
    {
        if (_carryStart == 0)
        {
            return;
        }

        _carry.AsSpan(_carryStart, _carryLength).CopyTo(_carry);
        _carryStart = 0;
    }
}
