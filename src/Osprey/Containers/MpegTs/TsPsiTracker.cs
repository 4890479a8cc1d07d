namespace Osprey.Containers.MpegTs;

/// <summary>
/// Follows the PAT and the PMT of a transport stream's first programme from its packets, and keeps them as a
/// standalone PSI header: the latest PAT and PMT sections, each written into fresh packets.
/// </summary>
/// <remarks>
/// <para>Only a single-programme stream is followed (what ffmpeg writes): the first programme of the PAT. The PMT
/// PIDs of any other programmes are still known (<see cref="IsPmtPid"/>) so that their packets count as PSI.
/// Only the first section (section_number 0) of each table is read, and only current ones (current_next_indicator
/// set).</para>
/// <para>Normalisation: the header's packets carry pointer_field 0, 0xFF stuffing and continuity counter 0
/// whatever the input had, so the same tables always give the same bytes and a change of bytes means a change of
/// tables. A receiver that then gets the stream's own PAT with counter 0 sees a duplicate of an identical packet,
/// which ISO/IEC 13818-1 allows.</para>
/// <para>Cost: a repeated, unchanged table is recognised by comparing its bytes with the last one (tens of bytes);
/// only a change allocates (the new <see cref="TsProgram"/> and header array). Not thread-safe.</para>
/// </remarks>
public sealed class TsPsiTracker
{
    private static readonly TsSectionHandler<TsPsiTracker> s_onPat = static (self, section) => self.OnPat(section);
    private static readonly TsSectionHandler<TsPsiTracker> s_onPmt = static (self, section) => self.OnPmt(section);

    private readonly TsSectionAssembler _patAssembler = new(TsPsi.MaxSectionSize);
    private readonly TsSectionAssembler _pmtAssembler = new(TsPsi.MaxSectionSize);
    private readonly byte[] _pat = new byte[TsPsi.MaxSectionSize];
    private readonly byte[] _pmt = new byte[TsPsi.MaxSectionSize];
    private int _patLength;
    private int _pmtLength;
    private int[] _pmtPids = [];
    private int _programNumber = -1;
    private int _pmtPid = -1;
    private bool _changed;
    private long _malformedSections;

    /// <summary>The followed programme, once its PMT has been read; null before.</summary>
    public TsProgram? Program { get; private set; }

    /// <summary>transport_stream_id of the latest PAT; -1 before the first.</summary>
    public int TransportStreamId { get; private set; } = -1;

    /// <summary>The followed programme's PMT PID from the PAT; -1 before the first PAT.</summary>
    public int PmtPid => _pmtPid;

    /// <summary>
    /// The latest PAT then PMT, as whole packets (see remarks); empty until both are known. A new array on each
    /// change, never written afterwards, so it may be kept (as a feed's header) without copying.
    /// </summary>
    public ReadOnlyMemory<byte> HeaderPackets { get; private set; }

    /// <summary>Times the header changed (new tables, or the programme lost with a new PAT).</summary>
    public long Changes { get; private set; }

    /// <summary>PAT and PMT sections dropped for a bad CRC_32.</summary>
    public long CrcErrors => _patAssembler.CrcErrors + _pmtAssembler.CrcErrors;

    /// <summary>PAT and PMT sections dropped unfinished, or whose structure is malformed.</summary>
    public long BadSections => _malformedSections + _patAssembler.BrokenSections + _pmtAssembler.BrokenSections;

    /// <summary>True for PIDs that carry PSI: the PAT, CAT, TSDT, DVB/ATSC tables (0x10-0x1F) and every PMT.</summary>
    public bool IsPsiPid(int pid) => pid <= 2 || (pid >= 0x10 && pid <= 0x1F) || IsPmtPid(pid);

    /// <summary>True for the PMT PID of any programme of the latest PAT.</summary>
    public bool IsPmtPid(int pid) => Array.IndexOf(_pmtPids, pid) >= 0;

    /// <summary>The PMT PIDs of every programme of the latest PAT.</summary>
    public ReadOnlySpan<int> PmtPids => _pmtPids;

    /// <summary>
    /// Consumes a packet if it is on the PAT PID or the followed PMT PID (others are ignored); true when the
    /// header or programme changed.
    /// </summary>
    public bool Push(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < TsPacket.Size)
        {
            return false;
        }

        var pid = TsPacket.GetPid(packet);
        _changed = false;
        if (pid == TsPacket.PatPid)
        {
            _patAssembler.Push(packet, this, s_onPat);
        }
        else if (pid == _pmtPid)
        {
            _pmtAssembler.Push(packet, this, s_onPmt);
        }
        else
        {
            return false;
        }

        return _changed;
    }

    /// <summary>Forgets everything (a new stream).</summary>
    public void Reset()
    {
        _patAssembler.Reset();
        _pmtAssembler.Reset();
        _patLength = 0;
        _pmtLength = 0;
        _pmtPids = [];
        _programNumber = -1;
        _pmtPid = -1;
        TransportStreamId = -1;
        Program = null;
        HeaderPackets = default;
    }

    private void OnPat(ReadOnlySpan<byte> section)
    {
        if (section.SequenceEqual(_pat.AsSpan(0, _patLength)))
        {
            return; // the usual case: the PAT repeated unchanged
        }

        if (!TsPsi.TryReadHeader(section, out var header) || header.TableId != TsPsi.PatTableId || (section.Length - 12) % 4 != 0)
        {
            _malformedSections++;
            return;
        }

        if (!header.IsCurrent || header.SectionNumber != 0)
        {
            return;
        }

        var pmtPids = new List<int>();
        int programNumber = -1, pmtPid = -1;
        for (var index = 0; TsPsi.TryGetPatEntry(section, index, out var number, out var pid); index++)
        {
            if (number == 0)
            {
                continue; // the network PID
            }

            pmtPids.Add(pid);
            if (programNumber < 0)
            {
                programNumber = number;
                pmtPid = pid;
            }
        }

        section.CopyTo(_pat);
        _patLength = section.Length;
        _pmtPids = [.. pmtPids];
        TransportStreamId = header.TableIdExtension;
        if (programNumber != _programNumber || pmtPid != _pmtPid)
        {
            // Another programme or PMT PID: the PMT read so far describes nothing any more.
            _programNumber = programNumber;
            _pmtPid = pmtPid;
            _pmtLength = 0;
            _pmtAssembler.Reset();
            Program = null;
        }

        Rebuild();
    }

    private void OnPmt(ReadOnlySpan<byte> section)
    {
        if (section.SequenceEqual(_pmt.AsSpan(0, _pmtLength)))
        {
            return;
        }

        if (!TsPsi.TryReadHeader(section, out var header) || header.TableId != TsPsi.PmtTableId)
        {
            _malformedSections++;
            return;
        }

        if (!header.IsCurrent || header.SectionNumber != 0 || header.TableIdExtension != _programNumber)
        {
            return; // not (yet) in force, or another programme's PMT sharing the PID
        }

        var program = TsPsi.ReadPmt(section, _pmtPid);
        if (program is null)
        {
            _malformedSections++;
            return;
        }

        section.CopyTo(_pmt);
        _pmtLength = section.Length;
        Program = program;
        Rebuild();
    }

    private void Rebuild()
    {
        _changed = true;
        Changes++;
        if (_patLength == 0 || _pmtLength == 0)
        {
            HeaderPackets = default;
            return;
        }

        var pat = _pat.AsSpan(0, _patLength);
        var pmt = _pmt.AsSpan(0, _pmtLength);
        var header = new byte[(TsPsi.GetPacketCount(pat.Length) + TsPsi.GetPacketCount(pmt.Length)) * TsPacket.Size];
        var patCounter = 0;
        var pmtCounter = 0;
        var written = TsPsi.Packetize(header, TsPacket.PatPid, pat, ref patCounter);
        TsPsi.Packetize(header.AsSpan(written), _pmtPid, pmt, ref pmtCounter);
        HeaderPackets = header;
    }
}
