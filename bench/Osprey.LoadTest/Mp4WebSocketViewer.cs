using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Osprey.LoadTest;

/// <summary>
/// A WebSocket viewer of fragmented MP4 (<see cref="StreamMode.Mp4"/>): a text message with the MIME type, a
/// binary init segment (<c>ftyp</c>...), then one binary media segment (<c>moof</c> + <c>mdat</c>) per access
/// unit whose sample (4-byte length-prefixed H.264 NAL units) starts with an SEI NAL that carries the probe.
/// A new MIME + init pair may come at any time (a "header"). In BerryMSE's layout (<c>/video_websocket</c>)
/// there is no text message and no probe, and a media segment holds one slice NAL behind a 104-byte moof.
/// </summary>
/// <remarks>
/// <para>
/// A media segment is walked, not read: the viewer asks for a few bytes at a time at increasing offsets of the
/// message (the moof box header, the mdat box header at the moof's size, then the 4-byte length and the header
/// byte of each NAL until the first VCL NAL, and the body of an SEI NAL), receiving them into its small buffer
/// and dropping the bytes in between, and the rest of the message after the walk, with
/// <see cref="PayloadDiscarder"/>. The head of a segment is received with a little read-ahead, so the moof, the
/// mdat header, the probe SEI and the next NAL's header usually come in one receive, and a P frame costs one
/// receive plus one discard.
/// </para>
/// <para>
/// The probe SEI is emulation-prevented (H.264 7.4.1: a 0x03 after two zero bytes is not data): its bytes are
/// unescaped into a stack buffer before the SEI messages are parsed, and the probe is found by its <c>FOUT</c>
/// magic inside a user_data_unregistered payload (type 5) after the payload's 16-byte UUID, whatever the UUID.
/// </para>
/// </remarks>
internal sealed class Mp4WebSocketViewer : WebSocketViewer
{
    /// <summary>Bytes a segment's first receive asks for: moof (~100 B) + mdat header + probe SEI (~60 B) + the next NAL's header.</summary>
    private const int HeadReadAhead = 256;

    /// <summary>How much of an SEI NAL is read and searched for the probe.</summary>
    private const int SeiReadLimit = 1024;

    /// <summary>Longest MIME text message kept; longer ones are cut.</summary>
    private const int MaxMimeLength = 256;

    /// <summary>NAL units walked past (parameter sets, SEI, AUD) before giving up on finding the first VCL NAL.</summary>
    private const int MaxNalsBeforeVcl = 32;

    /// <summary>BerryMSE's moof: trun's box type at bytes 76-79, the top byte of first_sample_flags at 92.</summary>
    private const int BerryTrunOffset = 76;
    private const int BerryFlagsOffset = 92;
    private const int BerryHeadSize = 96;

    /// <summary>first_sample_flags top byte of a BerryMSE key frame: sample_depends_on = 2 (depends on no other sample).</summary>
    private const byte BerryKeyFrameFlags = 0x02;

    private readonly bool _berry;
    private byte[] _mimeBytes = [];
    private bool _sawMedia;

    // The walk of the message being read: the next region wanted is [_target, _target + _need) of the message,
    // and _consumed is the message offset of the first buffered byte. _need == 0 means: skip to _target (the end).
    private WalkStep _step;
    private SegmentKind _kind;
    private long _segmentLength;
    private long _consumed;
    private long _target;
    private int _need;
    private long _moofSize;
    private long _sampleEnd;
    private long _nalPosition;
    private long _nalLength;
    private int _nals;
    private int _firstVclType;
    private bool _probeFound;
    private bool _intact;
    private bool _berryKey;

    public Mp4WebSocketViewer(int id, bool stalled, bool berryMse, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window)
        : base(id, stalled, latencyCapacity, sizeCapacity, discarder, window)
    {
        _berry = berryMse;
    }

    private enum WalkStep
    {
        Box,
        MdatHeader,
        NalHeader,
        Sei,
    }

    private enum SegmentKind
    {
        Other,
        Init,
        Media,
    }

    /// <summary>True for BerryMSE's layout (no MIME message, no probe, one segment per slice NAL).</summary>
    public bool BerryMse => _berry;

    /// <summary>Data messages (text and binary) received over the whole run.</summary>
    public long Messages { get; private set; }

    /// <summary>Init segments received over the whole run (each after its MIME text message, except in BerryMSE's layout).</summary>
    public long Headers { get; private set; }

    /// <summary>The last MIME type the server sent; null before the first (and always in BerryMSE's layout).</summary>
    public string? MimeType { get; private set; }

    /// <summary>Whether the first media segment was a key frame; null before the first.</summary>
    public bool? KeyFrameStart { get; private set; }

    /// <summary>Media segments in the window that were key frames (BerryMSE: IDR slices).</summary>
    public long KeyFrames { get; private set; }

    /// <summary>Counter gaps in the window after which the segment was not a key frame: the viewer resumed where it cannot decode.</summary>
    public long ResumesOnNonKeyFrame { get; private set; }

    public override string? TransportDetail => !Connected
        ? null
        : _berry
            ? "WebSocket, BerryMSE fMP4: init segment, then moof (104 B) + mdat per slice NAL; no probe"
            : "WebSocket, fMP4: MIME text + init segment, then moof + mdat per access unit, probe in an SEI NAL" + (MimeType is { } mime ? $"; {mime}" : "");

    /// <summary>True when <paramref name="url"/> is BerryMSE's endpoint (<c>/video_websocket</c>).</summary>
    public static bool IsBerryMseUrl(Uri url) =>
        url.IsAbsoluteUri && url.AbsolutePath.TrimEnd('/').EndsWith("/video_websocket", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Finds the probe in an SEI NAL unit (<paramref name="nal"/>: the header byte and as much of the body as was
    /// read) and copies its 32 bytes to <paramref name="probe"/>; false when there is none.
    /// </summary>
    /// <remarks>
    /// Removes emulation prevention first (each 0x03 that follows two zero bytes), then walks the SEI messages:
    /// payload type and payload size are each a run of 0xFF bytes (255 each) plus a final byte. The probe is the
    /// first <c>FOUT</c> after the 16-byte UUID of a user_data_unregistered (type 5) payload.
    /// </remarks>
    internal static bool TryReadSeiProbe(ReadOnlySpan<byte> nal, Span<byte> probe)
    {
        Span<byte> scratch = stackalloc byte[SeiReadLimit];
        var rbsp = scratch[..RemoveEmulationPrevention(nal[..Math.Min(nal.Length, SeiReadLimit)], scratch)];
        if (rbsp.IsEmpty || (rbsp[0] & 0x1F) != 6)
        {
            return false;
        }

        var position = 1;
        // more_rbsp_data(): stop at the rbsp_stop_one_bit byte (0x80), or when the read was cut short.
        for (var message = 0; message < SeiReadLimit && position < rbsp.Length && rbsp[position..].ContainsAnyExcept((byte)0x80, (byte)0); message++)
        {
            if (!TryReadSeiNumber(rbsp, ref position, out var payloadType) || !TryReadSeiNumber(rbsp, ref position, out var payloadSize))
            {
                return false;
            }

            var payload = rbsp[position..Math.Min(rbsp.Length, position + payloadSize)];
            if (payloadType == 5 && payload.Length >= 16 + ProbeSize)
            {
                var userData = payload[16..];
                var at = userData.IndexOf("FOUT"u8);
                if (at >= 0 && userData.Length - at >= ProbeSize)
                {
                    userData.Slice(at, ProbeSize).CopyTo(probe);
                    return true;
                }
            }

            position += payloadSize;
        }

        return false;
    }

    /// <summary>Copies <paramref name="escaped"/> to <paramref name="rbsp"/> without emulation-prevention bytes; returns the length.</summary>
    internal static int RemoveEmulationPrevention(ReadOnlySpan<byte> escaped, Span<byte> rbsp)
    {
        var length = 0;
        var zeros = 0;
        foreach (var b in escaped)
        {
            if (zeros >= 2 && b == 0x03)
            {
                zeros = 0;
                continue;
            }

            rbsp[length++] = b;
            zeros = b == 0 ? zeros + 1 : 0;
        }

        return length;
    }

    protected override async Task ReadFramesAsync(Socket socket, CancellationToken ct)
    {
        // One method awaiting only the socket's reusable ValueTasks (see RawWebSocketViewer): no allocation per
        // segment. Bounded in time by ct; every pass of the outer loop consumes one message, and every pass of the
        // walk moves forward in it (Walk caps the NAL units it looks at).
        while (!ct.IsCancellationRequested)
        {
            while (Buffered < 2)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(HeadReadAhead), SocketFlags.None, ct));
            }

            var headerLength = HeaderLength();
            while (Buffered < headerLength)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(HeadReadAhead), SocketFlags.None, ct));
            }

            var (opcode, fin, payloadLength) = ConsumeHeader(headerLength);
            if (!fin || !(opcode == 0x1 || (opcode == 0x2 && payloadLength >= 8)))
            {
                if (!await HandleOtherMessageAsync(opcode, fin, payloadLength, ct))
                {
                    return;
                }

                continue;
            }

            Messages++;
            if (opcode == 0x1)
            {
                // The MIME type of the init segment that follows.
                var keep = (int)Math.Min(payloadLength, MaxMimeLength);
                while (Buffered < keep)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(keep + MaxHeaderSize), SocketFlags.None, ct));
                }

                ReadMimeType(Peek(keep));
                var rest = ConsumeBuffered(payloadLength);
                while (rest > 0)
                {
                    rest -= Discarded(await Discarder.DiscardAsync(socket, rest, ct));
                }

                continue;
            }

            BeginSegment(payloadLength);
            while (true)
            {
                // Move to the next region: consume what is buffered before it, drop the rest of the gap unread.
                var gap = ConsumeBuffered(_target - _consumed);
                while (gap > 0)
                {
                    gap -= Discarded(await Discarder.DiscardAsync(socket, gap, ct));
                }

                _consumed = _target;
                if (_need == 0)
                {
                    break;
                }

                while (Buffered < _need)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(ReceiveWant()), SocketFlags.None, ct));
                }

                Walk();
            }

            CompleteSegment();
        }
    }

    private void ReadMimeType(ReadOnlySpan<byte> text)
    {
        // Allocates only when the type changes (a new header), never per segment.
        if (!text.SequenceEqual(_mimeBytes))
        {
            _mimeBytes = text.ToArray();
            MimeType = Encoding.UTF8.GetString(text);
        }
    }

    private void BeginSegment(long length)
    {
        _segmentLength = length;
        _consumed = 0;
        _target = 0;
        _need = (int)Math.Min(length, _berry ? BerryHeadSize : 8);
        _step = WalkStep.Box;
        _kind = SegmentKind.Other;
        _moofSize = 0;
        _sampleEnd = 0;
        _nals = 0;
        _firstVclType = 0;
        _probeFound = false;
        _intact = true;
        _berryKey = false;
    }

    /// <summary>How much to receive while the next region is short: the region, plus read-ahead up to a little past the message.</summary>
    private int ReceiveWant()
    {
        var ahead = (int)Math.Min(HeadReadAhead, _segmentLength - _target + MaxHeaderSize);
        return Math.Min(BufferSize, Math.Max(_need, ahead));
    }

    /// <summary>The segment has been looked at: skip the rest of it.</summary>
    private void Finish()
    {
        _target = _segmentLength;
        _need = 0;
    }

    /// <summary>Reads the region <c>[_target, _target + _need)</c> (buffered) and sets the next one.</summary>
    private void Walk()
    {
        var region = Peek(_need);
        switch (_step)
        {
            case WalkStep.Box:
                if (region[4..8].SequenceEqual("ftyp"u8))
                {
                    _kind = SegmentKind.Init;
                    Finish();
                    return;
                }

                if (!region[4..8].SequenceEqual("moof"u8))
                {
                    Finish();
                    return;
                }

                _kind = SegmentKind.Media;
                if (!TryReadBoxSize(region, _segmentLength, out _moofSize, out _) || _moofSize + 8 > _segmentLength)
                {
                    _intact = false;
                    Finish();
                    return;
                }

                if (_berry)
                {
                    _berryKey = region.Length >= BerryHeadSize
                        && region.Slice(BerryTrunOffset, 4).SequenceEqual("trun"u8)
                        && region[BerryFlagsOffset] == BerryKeyFrameFlags;
                }

                _step = WalkStep.MdatHeader;
                _target = _moofSize;
                _need = 8;
                return;

            case WalkStep.MdatHeader:
                if (!region[4..8].SequenceEqual("mdat"u8))
                {
                    _intact = false;
                    Finish();
                    return;
                }

                if (!TryReadBoxSize(region, _segmentLength - _moofSize, out var mdatSize, out var mdatHeader))
                {
                    // A 64-bit size: ask for the full 16-byte header at the same place.
                    if (mdatHeader == 16 && _need < 16 && _moofSize + 16 <= _segmentLength)
                    {
                        _need = 16;
                        return;
                    }

                    _intact = false;
                    Finish();
                    return;
                }

                _intact = _moofSize + mdatSize == _segmentLength;
                _sampleEnd = Math.Min(_segmentLength, _moofSize + mdatSize);
                if (_berry)
                {
                    Finish();
                    return;
                }

                _nalPosition = _moofSize + mdatHeader;
                NextNal();
                return;

            case WalkStep.NalHeader:
                _nalLength = BinaryPrimitives.ReadUInt32BigEndian(region);
                var type = region[4] & 0x1F;
                if (_nalLength < 1 || _nalPosition + 4 + _nalLength > _sampleEnd)
                {
                    // The NAL lengths do not add up to the sample.
                    _intact = false;
                    Finish();
                    return;
                }

                if (type is 1 or 5)
                {
                    _firstVclType = type;
                    Finish();
                    return;
                }

                if (type == 6 && !_probeFound)
                {
                    _step = WalkStep.Sei;
                    _target = _nalPosition + 4;
                    _need = (int)Math.Min(_nalLength, SeiReadLimit);
                    return;
                }

                _nalPosition += 4 + _nalLength;
                NextNal();
                return;

            case WalkStep.Sei:
                Span<byte> probe = stackalloc byte[ProbeSize];
                if (TryReadSeiProbe(region, probe))
                {
                    ReadProbe(probe);
                    _probeFound = true;
                }

                _nalPosition += 4 + _nalLength;
                NextNal();
                return;

            default:
                Finish();
                return;
        }
    }

    /// <summary>Asks for the length and header byte of the NAL at <see cref="_nalPosition"/>, or finishes at the end of the sample.</summary>
    private void NextNal()
    {
        if (++_nals > MaxNalsBeforeVcl || _nalPosition + 5 > _sampleEnd)
        {
            Finish();
            return;
        }

        _step = WalkStep.NalHeader;
        _target = _nalPosition;
        _need = 5;
    }

    /// <summary>Books the message whose last byte has just been consumed.</summary>
    private void CompleteSegment()
    {
        switch (_kind)
        {
            case SegmentKind.Init:
                Headers++;
                return;
            case SegmentKind.Other:
                UnexpectedMessages++;
                return;
        }

        var key = _berry ? _berryKey : _firstVclType == 5;
        if (!_sawMedia)
        {
            _sawMedia = true;
            KeyFrameStart = key;
        }

        if (_berry)
        {
            if (CompleteUnprobedFrame(_segmentLength, _intact) && key)
            {
                KeyFrames++;
            }

            return;
        }

        var (inWindow, skipped) = CompleteFrame(_segmentLength, _probeFound, _intact);
        if (inWindow && key)
        {
            KeyFrames++;
        }

        if (skipped > 0 && !key)
        {
            ResumesOnNonKeyFrame++;
        }
    }

    /// <summary>
    /// Reads a box size from a box header (8 bytes, or 16 for a 64-bit size); size 0 means "to the end", which is
    /// <paramref name="available"/>. False when the size is invalid, or 64-bit with fewer than 16 bytes given
    /// (<paramref name="headerSize"/> then says 16).
    /// </summary>
    private static bool TryReadBoxSize(ReadOnlySpan<byte> header, long available, out long size, out int headerSize)
    {
        size = BinaryPrimitives.ReadUInt32BigEndian(header);
        headerSize = 8;
        if (size == 0)
        {
            size = available;
        }
        else if (size == 1)
        {
            headerSize = 16;
            if (header.Length < 16)
            {
                return false;
            }

            size = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(header[8..]), long.MaxValue);
        }

        return size >= headerSize;
    }

    /// <summary>An SEI payload type or size: 255 per 0xFF byte, plus the final byte.</summary>
    private static bool TryReadSeiNumber(ReadOnlySpan<byte> rbsp, ref int position, out int value)
    {
        value = 0;
        while (position < rbsp.Length && rbsp[position] == 0xFF)
        {
            value += 255;
            position++;
        }

        if (position >= rbsp.Length)
        {
            return false;
        }

        value += rbsp[position++];
        return true;
    }
}
