namespace Osprey.Containers.MpegTs;

/// <summary>Receives one complete PSI section from a <see cref="TsSectionAssembler"/>.</summary>
/// <param name="state">The state passed to <see cref="TsSectionAssembler.Push{TState}"/>.</param>
/// <param name="section">The section from table_id to the end of CRC_32; valid only during the call.</param>
public delegate void TsSectionHandler<in TState>(TState state, ReadOnlySpan<byte> section);

/// <summary>
/// Reassembles the PSI sections of one PID from its transport stream packets (ISO/IEC 13818-1 §2.4.4): a section
/// starts where the pointer_field of a packet with payload_unit_start_indicator says, may continue over any number
/// of packets, and may be followed by further sections or 0xFF stuffing in the same packet.
/// </summary>
/// <remarks>
/// Sections with section_syntax_indicator set are delivered only when their CRC_32 checks; a bad one is counted in
/// <see cref="CrcErrors"/>. A section broken by a lost packet (continuity counter), a transport error, a pointer
/// past the packet or a length beyond the maximum is dropped and counted in <see cref="BrokenSections"/>. Never
/// throws for bad data; the one buffer is allocated up front.
/// </remarks>
public sealed class TsSectionAssembler
{
    /// <summary>The largest section of any table (private sections); PAT and PMT stop at 1024 bytes.</summary>
    public const int MaxSectionSize = 4096;

    private readonly byte[] _buffer;
    private int _length;
    private bool _collecting;
    private int _lastContinuityCounter = -1;

    /// <summary>Creates an assembler for sections of at most <paramref name="maxSectionSize"/> bytes.</summary>
    public TsSectionAssembler(int maxSectionSize = MaxSectionSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSectionSize, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxSectionSize, MaxSectionSize);
        _buffer = new byte[maxSectionSize];
    }

    /// <summary>Sections delivered.</summary>
    public long Sections { get; private set; }

    /// <summary>Complete sections dropped because their CRC_32 did not check.</summary>
    public long CrcErrors { get; private set; }

    /// <summary>Sections dropped unfinished or with an impossible length.</summary>
    public long BrokenSections { get; private set; }

    /// <summary>Forgets a partial section and the continuity counter (a new stream on the same PID).</summary>
    public void Reset()
    {
        _collecting = false;
        _length = 0;
        _lastContinuityCounter = -1;
    }

    /// <summary>
    /// Consumes one packet of the PID and calls <paramref name="onSection"/> for each section it completes.
    /// </summary>
    public void Push<TState>(ReadOnlySpan<byte> packet, TState state, TsSectionHandler<TState> onSection)
    {
        ArgumentNullException.ThrowIfNull(onSection);
        if (packet.Length < TsPacket.Size || TsPacket.HasTransportError(packet))
        {
            Abandon();
            return;
        }

        var payload = TsPacket.GetPayload(packet);
        if (payload.IsEmpty)
        {
            return; // adaptation only: the continuity counter does not move either
        }

        var counter = TsPacket.GetContinuityCounter(packet);
        if (_lastContinuityCounter >= 0 && !TsPacket.IsDiscontinuity(packet))
        {
            if (counter == _lastContinuityCounter)
            {
                if (!TsPacket.IsPayloadUnitStart(packet))
                {
                    return; // a duplicate packet (§2.4.3.3): its bytes were had already
                }

                // Read a section start again rather than risk losing a new table: a spliced stream (a restarted
                // muxer) can begin with the counter the old one stopped at. A true duplicate gives the same section.
                _collecting = false;
                _length = 0;
            }
            else if (counter != ((_lastContinuityCounter + 1) & 0x0F))
            {
                Abandon();
            }
        }

        _lastContinuityCounter = counter;
        if (!TsPacket.IsPayloadUnitStart(packet))
        {
            if (_collecting)
            {
                Collect(payload, state, onSection);
            }

            return;
        }

        var pointer = payload[0];
        if (1 + pointer > payload.Length)
        {
            Abandon();
            return;
        }

        if (_collecting)
        {
            // The bytes before the pointed-to start finish the previous section; if they do not, it was broken.
            Collect(payload.Slice(1, pointer), state, onSection);
            Abandon();
        }

        var rest = payload[(1 + pointer)..];
        while (!rest.IsEmpty && rest[0] != 0xFF)
        {
            _collecting = true;
            _length = 0;
            rest = rest[Collect(rest, state, onSection)..];
            if (_collecting)
            {
                break; // continues in the next packets
            }
        }
    }

    // Appends bytes of the current section; delivers it when complete. Returns the bytes used.
    private int Collect<TState>(ReadOnlySpan<byte> data, TState state, TsSectionHandler<TState> onSection)
    {
        var used = 0;
        if (_length < 3)
        {
            var header = Math.Min(3 - _length, data.Length);
            data[..header].CopyTo(_buffer.AsSpan(_length));
            _length += header;
            used = header;
            if (_length < 3)
            {
                return used;
            }
        }

        var total = 3 + (((_buffer[1] & 0x0F) << 8) | _buffer[2]);
        if (total > _buffer.Length)
        {
            BrokenSections++;
            _collecting = false;
            _length = 0;
            return data.Length;
        }

        var take = Math.Min(total - _length, data.Length - used);
        data.Slice(used, take).CopyTo(_buffer.AsSpan(_length));
        _length += take;
        used += take;
        if (_length < total)
        {
            return used;
        }

        _collecting = false;
        _length = 0;
        var section = _buffer.AsSpan(0, total);
        var hasSyntax = (section[1] & 0x80) != 0;
        if (hasSyntax && !TsCrc32.IsValid(section))
        {
            CrcErrors++;
            return used;
        }

        Sections++;
        onSection(state, section);
        return used;
    }

    private void Abandon()
    {
        if (_collecting)
        {
            BrokenSections++;
        }

        _collecting = false;
        _length = 0;
    }
}
