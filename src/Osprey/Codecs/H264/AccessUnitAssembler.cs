namespace Osprey.Codecs.H264;

/// <summary>Receives one access unit from an <see cref="AccessUnitAssembler"/>.</summary>
/// <param name="state">The state passed to <see cref="AccessUnitAssembler.Push{TState}"/> or <see cref="AccessUnitAssembler.Flush{TState}"/>.</param>
/// <param name="accessUnit">The access unit in Annex B with 4-byte start codes; valid only during the call.</param>
/// <param name="isKeyFrame">True when the access unit holds an IDR slice.</param>
public delegate void AccessUnitHandler<in TState>(TState state, ReadOnlySpan<byte> accessUnit, bool isKeyFrame);

/// <summary>
/// Turns an Annex B byte stream (ffmpeg's <c>-f h264</c> stdout, in chunks of any size) into access units: each in
/// Annex B with 4-byte start codes, in stream order, with the SPS, PPS, SEI and AUD NAL units that precede its
/// first slice. Counts garbage and oversized access units; never throws for bad data.
/// </summary>
/// <remarks>
/// <para>
/// Boundaries follow ITU-T H.264 §7.4.1.2.3: once the current access unit has a VCL NAL unit (a slice, types 1-5),
/// the next AUD (9), SPS (7), PPS (8), SEI (6) or type 14-18 NAL unit starts a new one, and so does a slice
/// (types 1, 2, 5) whose <c>first_mb_in_slice</c> is 0, which is its first bit after the header
/// (<c>ue(v)</c> codes 0 as a single 1 bit). So the decision for a NAL unit needs only its first two bytes, and is
/// made before the rest of it is copied: the finished access unit goes out and the new NAL unit starts at the front
/// of the buffer, with no moving of bytes. (§7.4.1.2.4's full test compares frame_num, pps_id and more; encoders
/// without arbitrary slice order start every picture at macroblock 0, which is all this checks.)
/// </para>
/// <code>
/// stream:  00 00 00 01 67 …  00 00 00 01 68 …  00 00 01 65 88 …  00 00 01 65 0C …  00 00 00 01 41 9A …
///                      SPS               PPS           IDR, mb 0        IDR, mb ≠ 0         slice, mb 0
///          └──────────────────────── access unit 1 ───────────────────────────────┘ └── access unit 2 …
/// </code>
/// <para>
/// A NAL unit ends only where the next start code begins, so an access unit is handed out when the next one's
/// first NAL unit arrives (one frame later on a pipe from ffmpeg), or at <see cref="Flush{TState}"/>. A caller that
/// knows where access units end (one packet each, from a framed container) can call <see cref="Flush{TState}"/>
/// after each one to hand it out at once: the assembler then starts over and expects a start code.
/// </para>
/// <para>
/// Bytes before the first start code (and after <see cref="Flush{TState}"/>) are garbage, except zero bytes right
/// before a start code (Annex B's leading_zero_8bits). A NAL unit with forbidden_zero_bit set is not H.264 and is
/// dropped as garbage. An access unit that grows beyond the maximum size is dropped with all its NAL units up to
/// the next access unit boundary and counted in <see cref="OversizedAccessUnits"/>. Decisions depend only on the
/// bytes, never on where reads split them. The one buffer doubles as needed up to the maximum size and is then
/// reused: no allocation in steady state. Not thread-safe; the handler must not call back into the assembler.
/// </para>
/// </remarks>
public sealed class AccessUnitAssembler
{
    private const int InitialBufferSize = 64 * 1024;

    private readonly int _maxAccessUnitSize;
    private byte[] _buffer = [];
    // The current access unit's bytes in _buffer: its complete NAL units, then the open NAL unit's bytes so far.
    private int _length;

    // False while looking for the first start code (at the start and after Flush).
    private bool _inNal;
    private long _seekBytes;
    // Trailing zero bytes of everything consumed so far: a start code may be split between pushes.
    private long _zeroRun;

    // The open NAL unit: the one after the last start code.
    private OpenNal _open;
    private byte _head0;
    private byte _head1;
    private int _headCount;
    private int _openStart;
    private long _pendingZeros;
    private long _garbageNalBytes;

    private bool _auHasVcl;
    private bool _auHasIdr;
    private bool _dropping;

    /// <summary>Creates an assembler.</summary>
    /// <param name="maxAccessUnitSize">
    /// The largest access unit delivered, in bytes (start codes included); larger ones are dropped and counted in
    /// <see cref="OversizedAccessUnits"/>. It also bounds the internal buffer.
    /// </param>
    public AccessUnitAssembler(int maxAccessUnitSize = 8 * 1024 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAccessUnitSize, 16);
        _maxAccessUnitSize = maxAccessUnitSize;
    }

    private enum OpenNal : byte
    {
        /// <summary>Fewer than two bytes seen: not classified yet, its bytes held in _head0/_head1.</summary>
        Pending,

        /// <summary>Being copied into the buffer, its start code at _openStart.</summary>
        Kept,

        /// <summary>forbidden_zero_bit set: skipped and counted as garbage.</summary>
        Garbage,

        /// <summary>Part of an oversized access unit: skipped.</summary>
        Dropped,
    }

    /// <summary>Access units delivered.</summary>
    public long AccessUnits { get; private set; }

    /// <summary>
    /// Bytes that belong to no delivered access unit: before the first start code (leading zero bytes excepted),
    /// NAL units with forbidden_zero_bit set, and parameter sets with no picture after them at <see cref="Flush{TState}"/>.
    /// </summary>
    public long GarbageBytes { get; private set; }

    /// <summary>Access units dropped because they grew beyond the maximum size.</summary>
    public long OversizedAccessUnits { get; private set; }

    /// <summary>The internal buffer's capacity, for tests that check it stays bounded.</summary>
    internal int BufferCapacity => _buffer.Length;

    /// <summary>
    /// Consumes <paramref name="data"/> and calls <paramref name="onAccessUnit"/> once per access unit completed by
    /// it, in stream order. Never throws for bad data.
    /// </summary>
    /// <remarks>
    /// The span given to the handler is the internal buffer, valid only during the call. If the handler throws, the
    /// exception propagates and the rest of <paramref name="data"/> is not consumed.
    /// </remarks>
    public void Push<TState>(ReadOnlySpan<byte> data, TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        ArgumentNullException.ThrowIfNull(onAccessUnit);
        while (!data.IsEmpty)
        {
            // Find the next start code: either completing one whose zeros ended earlier input, or inside data.
            int bodyEnd;
            int next;
            if (_zeroRun >= 2 && data[0] == 1)
            {
                bodyEnd = 0;
                next = 1;
            }
            else if (_zeroRun >= 1 && data.Length >= 2 && data[0] == 0 && data[1] == 1)
            {
                bodyEnd = 0;
                next = 2;
            }
            else
            {
                var found = AnnexB.IndexOfStartCode(data);
                bodyEnd = found < 0 ? data.Length : found;
                next = found < 0 ? -1 : found + 3;
            }

            var body = data[..bodyEnd];
            Consume(body, state, onAccessUnit);
            UpdateZeroRun(body);
            if (next < 0)
            {
                return;
            }

            if (_inNal)
            {
                EndNal(state, onAccessUnit);
            }
            else
            {
                // Zeros right before the start code are leading_zero_8bits, not garbage.
                GarbageBytes += _seekBytes - Math.Min(_zeroRun, _seekBytes);
                _seekBytes = 0;
                _inNal = true;
            }

            _open = OpenNal.Pending;
            _headCount = 0;
            _garbageNalBytes = 0;
            _pendingZeros = 0;
            _zeroRun = 0;
            data = data[next..];
        }
    }

    /// <summary>
    /// End of stream: completes the open NAL unit and delivers the pending access unit if it has a slice; then
    /// starts over, expecting a start code.
    /// </summary>
    public void Flush<TState>(TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        ArgumentNullException.ThrowIfNull(onAccessUnit);
        if (_inNal)
        {
            EndNal(state, onAccessUnit);
        }
        else
        {
            GarbageBytes += _seekBytes;
        }

        if (_auHasVcl)
        {
            Emit(state, onAccessUnit);
        }
        else
        {
            GarbageBytes += _length;
            ResetAccessUnit();
        }

        _inNal = false;
        _seekBytes = 0;
        _zeroRun = 0;
        _open = OpenNal.Pending;
        _headCount = 0;
        _garbageNalBytes = 0;
        _pendingZeros = 0;
    }

    private void Consume<TState>(ReadOnlySpan<byte> body, TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        if (!_inNal)
        {
            _seekBytes += body.Length;
            return;
        }

        if (_open == OpenNal.Pending)
        {
            while (_headCount < 2 && !body.IsEmpty)
            {
                if (_headCount == 0)
                {
                    _head0 = body[0];
                }
                else
                {
                    _head1 = body[0];
                }

                _headCount++;
                body = body[1..];
            }

            if (_headCount < 2)
            {
                return;
            }

            Classify(state, onAccessUnit);
        }

        Append(body);
    }

    private void Append(ReadOnlySpan<byte> body)
    {
        switch (_open)
        {
            case OpenNal.Kept:
                // Trailing zeros are held back until a non-zero byte follows: at the NAL unit's end they are
                // trailing_zero_8bits or the next start code's zero_byte, and must not count against the size limit.
                var trailing = body.Length - 1 - body.LastIndexOfAnyExcept((byte)0);
                if (trailing == body.Length)
                {
                    _pendingZeros += trailing;
                    return;
                }

                var kept = body[..^trailing];
                if (_pendingZeros + kept.Length > _maxAccessUnitSize - _length)
                {
                    Oversize();
                    return;
                }

                EnsureCapacity(_length + (int)_pendingZeros + kept.Length);
                _buffer.AsSpan(_length, (int)_pendingZeros).Clear();
                _length += (int)_pendingZeros;
                kept.CopyTo(_buffer.AsSpan(_length));
                _length += kept.Length;
                _pendingZeros = trailing;
                break;
            case OpenNal.Garbage:
                _garbageNalBytes += body.Length;
                break;
        }
    }

    // Decides, from the open NAL unit's first bytes, whether it starts a new access unit and whether it is kept.
    private void Classify<TState>(TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        if ((_head0 & 0x80) != 0)
        {
            // forbidden_zero_bit (§7.4.1): not an H.264 NAL unit.
            _open = OpenNal.Garbage;
            _garbageNalBytes = _headCount;
            return;
        }

        var type = (NalUnitType)(_head0 & 0x1F);
        var vcl = AnnexB.IsVcl(type);
        if (_auHasVcl && StartsAccessUnit(type))
        {
            Emit(state, onAccessUnit);
        }

        _auHasVcl |= vcl;
        _auHasIdr |= type == NalUnitType.Idr;
        if (_dropping)
        {
            _open = OpenNal.Dropped;
            return;
        }

        if (4 + _headCount > _maxAccessUnitSize - _length)
        {
            Oversize();
            return;
        }

        EnsureCapacity(_length + 4 + _headCount);
        _openStart = _length;
        _buffer[_length++] = 0;
        _buffer[_length++] = 0;
        _buffer[_length++] = 0;
        _buffer[_length++] = 1;
        _buffer[_length++] = _head0;
        if (_headCount == 2)
        {
            _buffer[_length++] = _head1;
        }

        _open = OpenNal.Kept;
    }

    // §7.4.1.2.3, after a VCL NAL unit: these begin the next access unit.
    private bool StartsAccessUnit(NalUnitType type) => type switch
    {
        NalUnitType.Aud or NalUnitType.Sps or NalUnitType.Pps or NalUnitType.Sei => true,
        (NalUnitType)14 or (NalUnitType)15 or (NalUnitType)16 or (NalUnitType)17 or (NalUnitType)18 => true,
        // slice_header() starts with first_mb_in_slice; ue(v) codes 0 as the single bit 1.
        NalUnitType.Slice or NalUnitType.SliceDataA or NalUnitType.Idr => _headCount == 2 && (_head1 & 0x80) != 0,
        _ => false,
    };

    private void EndNal<TState>(TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        if (_open == OpenNal.Pending)
        {
            if (_headCount == 0)
            {
                return;
            }

            Classify(state, onAccessUnit);
        }

        switch (_open)
        {
            case OpenNal.Kept:
                // Held-back zeros are dropped; a header-only NAL unit may still end in a zero byte (see AnnexB).
                var nal = AnnexB.TrimTrailingZeros(_buffer.AsSpan(_openStart + 4, _length - _openStart - 4));
                _length = nal.IsEmpty ? _openStart : _openStart + 4 + nal.Length;
                break;
            case OpenNal.Garbage:
                GarbageBytes += _garbageNalBytes - Math.Min(_zeroRun, _garbageNalBytes);
                break;
        }
    }

    private void Emit<TState>(TState state, AccessUnitHandler<TState> onAccessUnit)
    {
        var dropped = _dropping;
        var length = _length;
        var isKeyFrame = _auHasIdr;
        ResetAccessUnit();
        if (!dropped && length > 0)
        {
            AccessUnits++;
            // The buffer is written again only after the handler returns.
            onAccessUnit(state, _buffer.AsSpan(0, length), isKeyFrame);
        }
    }

    private void ResetAccessUnit()
    {
        _length = 0;
        _auHasVcl = false;
        _auHasIdr = false;
        _dropping = false;
    }

    private void Oversize()
    {
        OversizedAccessUnits++;
        _dropping = true;
        _length = 0;
        _open = OpenNal.Dropped;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _buffer.Length)
        {
            return;
        }

        Grow(needed);
    }

    private void Grow(int needed)
    {
        var size = Math.Min(Math.Max(Math.Max(needed, InitialBufferSize), 2 * (long)_buffer.Length), _maxAccessUnitSize);
        var grown = GC.AllocateUninitializedArray<byte>((int)Math.Max(size, needed));
        _buffer.AsSpan(0, _length).CopyTo(grown);
        _buffer = grown;
    }

    private void UpdateZeroRun(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return;
        }

        var trailing = body.Length - 1 - body.LastIndexOfAnyExcept((byte)0);
        _zeroRun = trailing == body.Length ? _zeroRun + trailing : trailing;
    }
}
