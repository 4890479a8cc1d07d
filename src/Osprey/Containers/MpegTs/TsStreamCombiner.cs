using System.Buffers;

namespace Osprey.Containers.MpegTs;

/// <summary>
/// Combines the transport streams of several inputs (vw's "streams": a video feed and an audio feed, each from its
/// own ffmpeg, each with its own PAT and PMT and usually the same PIDs) into one transport stream with one
/// programme, written once for all viewers.
/// </summary>
/// <remarks>
/// <para><b>PIDs.</b> Each input has a slot, kept for its name (removing the audio input does not renumber the
/// video one, and an input that comes back gets its old slot if it is still free). The k-th elementary stream of
/// the input's PMT in slot i goes out on <c>0x100 + 0x20 × i + k</c> (<see cref="MapPid"/>); a PCR carried on a
/// PID of its own goes out on k = 0x1F. Packets keep their continuity counters: each input PID maps to one output
/// PID, so continuity holds as it did in the input.</para>
/// <para><b>PSI.</b> The inputs' own PAT, PMT, SDT, NIT and other PSI packets and their null packets are dropped
/// (their PAT and PMT are still read, to learn each input's programme), and the combiner writes one PAT (programme
/// 1, PMT PID 0x1000) and one PMT listing every input's streams, with its own continuity counters. The PMT's PCR
/// PID is the mapped PCR PID of the primary input: the first (lowest slot) input with video, else the first with a
/// programme. Its version_number (<see cref="HeaderVersion"/> modulo 32) changes whenever inputs or their streams
/// change. The merged PAT and PMT go out before every key chunk of the primary input, before the next chunk after
/// a change of layout, and after <see cref="RequestPsi"/> (say, on a timer).</para>
/// <para><b>Order within a chunk.</b> A chunk's PSI packets are read before its other packets are mapped, so a PMT
/// that changes mid-chunk applies to the whole chunk. <see cref="TsChunker"/> never puts packets of an old PSI
/// header and a new one in one chunk, so for its chunks this is exact.</para>
/// <para>Inputs without PAT and PMT (jsmpeg-style streams) cannot be mapped: their packets are dropped and counted
/// in <see cref="UnmappedPackets"/> until their PMT is known, either in-band or from
/// <see cref="SetProgram"/> (a feed's header read with <see cref="TsProgram.FromPsiPackets"/>).</para>
/// <para>Not thread-safe: the caller serialises all calls (one output per stream). Writing allocates nothing;
/// a change of layout allocates the new programme and header.</para>
/// </remarks>
public sealed class TsStreamCombiner
{
    /// <summary>The program_number of the combined programme.</summary>
    public const int ProgramNumber = 1;

    /// <summary>The PID of the combined PMT.</summary>
    public const int PmtPid = 0x1000;

    /// <summary>The output PID of slot 0's first stream.</summary>
    public const int FirstElementaryPid = 0x100;

    /// <summary>Output PIDs reserved per slot.</summary>
    public const int PidsPerSlot = 0x20;

    /// <summary>The most slots: output PIDs stay below the PMT's.</summary>
    public const int MaxSlots = (PmtPid - FirstElementaryPid) / PidsPerSlot;

    /// <summary>The most bytes of PSI written in one go: a PAT packet and a PMT of up to 1024 bytes (6 packets).</summary>
    public const int MaxPsiSize = 7 * TsPacket.Size;

    // Map entries: 0 drops the packet; PsiMarker marks the input's own PSI.
    private const ushort PsiMarker = 0xFFFF;
    private const int PcrOnlyIndex = PidsPerSlot - 1;

    private readonly Input?[] _inputs;
    private readonly string?[] _rememberedNames;
    private readonly int _transportStreamId;
    private readonly byte[] _pat = new byte[TsPsi.PatSize];
    private readonly byte[] _pmt = new byte[TsPsi.MaxSectionSize];
    private int _pmtLength;
    private int _patCounter;
    private int _pmtCounter;
    private bool _layoutDirty = true;
    private bool _psiDue;
    private int _primary = -1;
    private int _headerVersion;
    private TsProgram _program;
    /// <summary>Creates a combiner with room for <paramref name="maxInputs"/> inputs.</summary>
    /// <param name="maxInputs">The number of slots (at most <see cref="MaxSlots"/>).</param>
    /// <param name="transportStreamId">transport_stream_id of the PAT written.</param>
    public TsStreamCombiner(int maxInputs = 16, int transportStreamId = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInputs, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxInputs, MaxSlots);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)transportStreamId, 0xFFFFu, nameof(transportStreamId));
        _inputs = new Input?[maxInputs];
        _rememberedNames = new string?[maxInputs];
        _transportStreamId = transportStreamId;
        TsPsi.WritePat(_pat, transportStreamId, version: 0, ProgramNumber, PmtPid);
        _program = new TsProgram(ProgramNumber, PmtPid, TsPacket.NullPid, []);
    }

    /// <summary>The number of slots.</summary>
    public int MaxInputs => _inputs.Length;

    /// <summary>The combined programme as the PMT written describes it.</summary>
    public TsProgram Program
    {
        get
        {
            UpdateLayout();
            return _program;
        }
    }

    /// <summary>
    /// Increases with every change of layout, from 1 for the first; the PMT's version_number is it modulo 32.
    /// Chunks written belong to the header of the version current when they were written.
    /// </summary>
    public int HeaderVersion
    {
        get
        {
            UpdateLayout();
            return _headerVersion;
        }
    }

    /// <summary>
    /// The combined PAT and PMT as standalone packets (continuity counters 0), for a new viewer before its first
    /// chunk. A new array per version, never written afterwards.
    /// </summary>
    public ReadOnlyMemory<byte> Header
    {
        get
        {
            UpdateLayout();
            return _header;
        }
    }

    private ReadOnlyMemory<byte> _header;

    /// <summary>The slot of the primary input (the first with video, else the first with a programme); -1 without inputs.</summary>
    public int PrimarySlot
    {
        get
        {
            UpdateLayout();
            return _primary;
        }
    }

    /// <summary>Input packets given to <see cref="Write(int, ReadOnlySpan{byte}, bool, Span{byte}, out bool)"/>.</summary>
    public long InputPackets { get; private set; }

    /// <summary>Input packets written out with their new PID.</summary>
    public long OutputPackets { get; private set; }

    /// <summary>Input packets dropped because they were the inputs' own PSI or null packets.</summary>
    public long DroppedPsiPackets { get; private set; }

    /// <summary>Input packets dropped because their PID is in no known PMT of their input (or they lacked the sync byte).</summary>
    public long UnmappedPackets { get; private set; }

    /// <summary>Times the combined PAT and PMT were written into the output.</summary>
    public long PsiInsertions { get; private set; }

    /// <summary>
    /// Streams of the current inputs left out (their packets dropped): beyond an input's 31st, or beyond what fits a
    /// PMT of 1024 bytes.
    /// </summary>
    public int OmittedStreams { get; private set; }

    /// <summary>The output PID of the <paramref name="index"/>th stream of the input in <paramref name="slot"/>.</summary>
    public static int MapPid(int slot, int index) => FirstElementaryPid + (PidsPerSlot * slot) + index;

    /// <summary>The bytes <see cref="Write(int, ReadOnlySpan{byte}, bool, Span{byte}, out bool)"/> may write for an input chunk of <paramref name="inputLength"/> bytes.</summary>
    public static int GetMaxOutputSize(int inputLength) => (inputLength / TsPacket.Size * TsPacket.Size) + MaxPsiSize;

    /// <summary>
    /// Adds an input, or finds it if present: returns its slot. Throws when every slot is taken.
    /// </summary>
    /// <param name="name">The input's name (its feed's name), which keeps its slot.</param>
    /// <param name="program">Its programme when known already (see <see cref="SetProgram"/>).</param>
    public int AddInput(string name, TsProgram? program = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (TryGetSlot(name, out var existing))
        {
            if (program is not null)
            {
                SetProgram(existing, program);
            }

            return existing;
        }

        var slot = Array.IndexOf(_rememberedNames, name);
        if (slot < 0 || _inputs[slot] is not null)
        {
            // A slot nobody had yet, else any free one.
            slot = -1;
            for (var i = 0; i < _inputs.Length && slot < 0; i++)
            {
                slot = _inputs[i] is null && _rememberedNames[i] is null ? i : -1;
            }

            for (var i = 0; i < _inputs.Length && slot < 0; i++)
            {
                slot = _inputs[i] is null ? i : -1;
            }
        }

        if (slot < 0)
        {
            throw new InvalidOperationException($"All {_inputs.Length} inputs of the combiner are taken.");
        }

        _inputs[slot] = new Input(name);
        _rememberedNames[slot] = name;
        _layoutDirty = true;
        if (program is not null)
        {
            SetProgram(slot, program);
        }

        return slot;
    }

    /// <summary>Removes an input; its slot stays reserved for its name while no other input needs it.</summary>
    public bool RemoveInput(string name)
    {
        if (!TryGetSlot(name, out var slot))
        {
            return false;
        }

        _inputs[slot] = null;
        _layoutDirty = true;
        return true;
    }

    /// <summary>The slot of the input named <paramref name="name"/>.</summary>
    public bool TryGetSlot(string name, out int slot)
    {
        for (slot = 0; slot < _inputs.Length; slot++)
        {
            if (_inputs[slot] is { } input && input.Name == name)
            {
                return true;
            }
        }

        slot = -1;
        return false;
    }

    /// <summary>
    /// Sets the programme of the input in <paramref name="slot"/> (from its chunker, or its feed's header) until
    /// its own PAT and PMT say otherwise.
    /// </summary>
    public void SetProgram(int slot, TsProgram? program)
    {
        var input = GetInput(slot);
        input.SetProgram(program);
        _layoutDirty = true;
    }

    /// <summary>Makes the next <see cref="Write(int, ReadOnlySpan{byte}, bool, Span{byte}, out bool)"/> start with the combined PAT and PMT.</summary>
    public void RequestPsi() => _psiDue = true;

    /// <summary>
    /// Writes one chunk of an input (whole packets) into <paramref name="destination"/>, which must hold
    /// <see cref="GetMaxOutputSize"/> bytes: the combined PSI first when due, then the input's packets with their
    /// new PIDs. Returns the bytes written (whole packets; possibly none).
    /// </summary>
    /// <param name="slot">The input's slot.</param>
    /// <param name="packets">The input's chunk; a trailing partial packet is ignored.</param>
    /// <param name="isKey">True when the input's chunk starts at a random access point.</param>
    /// <param name="destination">Where the output goes.</param>
    /// <param name="outputIsKey">True when the output starts a decodable point: a key chunk of the primary input.</param>
    public int Write(int slot, ReadOnlySpan<byte> packets, bool isKey, Span<byte> destination, out bool outputIsKey)
    {
        var input = GetInput(slot);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, GetMaxOutputSize(packets.Length), nameof(destination));
        var whole = packets.Length / TsPacket.Size * TsPacket.Size;
        packets = packets[..whole];

        // The chunk's PAT and PMT first, so that its other packets are mapped by the tables it brings.
        for (var offset = 0; offset < whole; offset += TsPacket.Size)
        {
            var packet = packets.Slice(offset, TsPacket.Size);
            var pid = TsPacket.GetPid(packet);
            if ((pid == TsPacket.PatPid || pid == input.Psi.PmtPid) && packet[0] == TsPacket.SyncByte && input.Psi.Push(packet))
            {
                input.OnPsiChanged();
                _layoutDirty = true;
            }
        }

        UpdateLayout();
        outputIsKey = isKey && slot == _primary;
        var written = 0;
        if (outputIsKey || _psiDue)
        {
            written = WritePsiPackets(destination);
        }

        var map = input.Map;
        for (var offset = 0; offset < whole; offset += TsPacket.Size)
        {
            InputPackets++;
            var packet = packets.Slice(offset, TsPacket.Size);
            var mapped = map[TsPacket.GetPid(packet)];
            if (mapped == PsiMarker)
            {
                DroppedPsiPackets++;
                continue;
            }

            if (mapped == 0 || packet[0] != TsPacket.SyncByte)
            {
                UnmappedPackets++;
                continue;
            }

            var output = destination.Slice(written, TsPacket.Size);
            packet.CopyTo(output);
            TsPacket.SetPid(output, mapped);
            written += TsPacket.Size;
            OutputPackets++;
        }

        return written;
    }

    /// <summary>Writes one chunk of an input to <paramref name="output"/>; returns whether the output is a key chunk.</summary>
    public bool Write(int slot, ReadOnlySpan<byte> packets, bool isKey, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var written = Write(slot, packets, isKey, output.GetSpan(GetMaxOutputSize(packets.Length)), out var outputIsKey);
        output.Advance(written);
        return outputIsKey;
    }

    /// <summary>Writes the combined PAT and PMT now, with the stream's continuity counters; returns the bytes written.</summary>
    public int WritePsi(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, MaxPsiSize, nameof(destination));
        UpdateLayout();
        return WritePsiPackets(destination);
    }

    /// <summary>Writes the combined PAT and PMT now to <paramref name="output"/>.</summary>
    public void WritePsi(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.Advance(WritePsi(output.GetSpan(MaxPsiSize)));
    }

    private Input GetInput(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)_inputs.Length, nameof(slot));
        return _inputs[slot] ?? throw new ArgumentException($"Slot {slot} has no input.", nameof(slot));
    }

    private int WritePsiPackets(Span<byte> destination)
    {
        var written = TsPsi.Packetize(destination, TsPacket.PatPid, _pat, ref _patCounter);
        written += TsPsi.Packetize(destination[written..], PmtPid, _pmt.AsSpan(0, _pmtLength), ref _pmtCounter);
        _psiDue = false;
        PsiInsertions++;
        return written;
    }

    // Rebuilds the maps and the PMT after inputs or their programmes changed; a new PMT (other than by version)
    // makes a new header version and is due in the output.
    private void UpdateLayout()
    {
        if (!_layoutDirty)
        {
            return;
        }

        _layoutDirty = false;
        _primary = -1;
        var firstWithProgram = -1;
        var firstInput = -1;
        for (var slot = 0; slot < _inputs.Length; slot++)
        {
            if (_inputs[slot] is not { } input)
            {
                continue;
            }

            firstInput = firstInput < 0 ? slot : firstInput;
            if (input.Program is { } program)
            {
                firstWithProgram = firstWithProgram < 0 ? slot : firstWithProgram;
                if (program.HasVideo && _primary < 0)
                {
                    _primary = slot;
                }
            }
        }

        _primary = _primary >= 0 ? _primary : firstWithProgram >= 0 ? firstWithProgram : firstInput;

        var streams = new List<TsElementaryStream>();
        var omitted = 0;
        var size = 16;
        var pcrPid = TsPacket.NullPid;
        for (var slot = 0; slot < _inputs.Length; slot++)
        {
            if (_inputs[slot] is not { } input)
            {
                continue;
            }

            omitted += input.BuildMap(slot);
            if (input.Program is not { } program)
            {
                continue;
            }

            for (var index = 0; index < program.Streams.Count && index < PcrOnlyIndex; index++)
            {
                var stream = program.Streams[index];
                if (size + 5 + stream.Descriptors.Length > TsPsi.MaxSectionSize)
                {
                    omitted++;
                    input.Map[stream.Pid] = 0;
                    continue;
                }

                size += 5 + stream.Descriptors.Length;
                streams.Add(new TsElementaryStream(MapPid(slot, index), stream.StreamType, stream.Descriptors));
            }

            if (slot == _primary && program.PcrPid != TsPacket.NullPid && input.Map[program.PcrPid] is not (0 or PsiMarker))
            {
                pcrPid = input.Map[program.PcrPid];
            }
        }

        OmittedStreams = omitted;
        var candidate = new TsProgram(ProgramNumber, PmtPid, pcrPid, streams.ToArray(), version: _headerVersion & 0x1F);
        Span<byte> pmt = stackalloc byte[TsPsi.MaxSectionSize];
        var length = TsPsi.WritePmt(pmt, candidate, _headerVersion & 0x1F);
        if (_headerVersion > 0 && pmt[..length].SequenceEqual(_pmt.AsSpan(0, _pmtLength)))
        {
            return; // the same layout (an input came back as it was, or a repeated PMT)
        }

        _headerVersion++;
        _program = new TsProgram(ProgramNumber, PmtPid, pcrPid, candidate.Streams, version: _headerVersion & 0x1F);
        _pmtLength = TsPsi.WritePmt(_pmt, _program, _headerVersion & 0x1F);
        var header = new byte[MaxPsiSize];
        var patCounter = 0;
        var pmtCounter = 0;
        var written = TsPsi.Packetize(header, TsPacket.PatPid, _pat, ref patCounter);
        written += TsPsi.Packetize(header.AsSpan(written), PmtPid, _pmt.AsSpan(0, _pmtLength), ref pmtCounter);
        _header = header.AsMemory(0, written);
        _psiDue = true;
    }

    private sealed class Input(string name)
    {
        public string Name { get; } = name;

        public TsPsiTracker Psi { get; } = new();

        public TsProgram? Program { get; private set; }

        // Input PID → output PID, 0 to drop, PsiMarker for the input's own PSI.
        public ushort[] Map { get; } = new ushort[TsPacket.MaxPid + 1];

        public void SetProgram(TsProgram? program) => Program = program;

        public void OnPsiChanged()
        {
            if (Psi.Program is not null)
            {
                Program = Psi.Program;
            }
        }

        // Returns the number of streams beyond the slot's PIDs, which are dropped.
        public int BuildMap(int slot)
        {
            var map = Map.AsSpan();
            map.Clear();
            map[..3].Fill(PsiMarker);
            map[0x10..0x20].Fill(PsiMarker);
            foreach (var pmtPid in Psi.PmtPids)
            {
                map[pmtPid] = PsiMarker;
            }

            map[TsPacket.NullPid] = PsiMarker;
            if (Program is not { } program)
            {
                return 0;
            }

            map[program.PmtPid] = PsiMarker;
            var omitted = 0;
            for (var index = 0; index < program.Streams.Count; index++)
            {
                var pid = program.Streams[index].Pid;
                if (index >= PcrOnlyIndex)
                {
                    omitted++;
                }
                else if (map[pid] == 0)
                {
                    map[pid] = (ushort)MapPid(slot, index);
                }
            }

            if (program.PcrPid != TsPacket.NullPid && map[program.PcrPid] == 0)
            {
                map[program.PcrPid] = (ushort)MapPid(slot, PcrOnlyIndex);
            }

            return omitted;
        }
    }
}
