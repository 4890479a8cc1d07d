using System.Buffers.Binary;
using Osprey.Codecs.H264;

namespace Osprey.Protocols.Rtp;

/// <summary>
/// H.264 into RTP, RFC 6184 packetization mode 1 (non-interleaved): a NAL unit that fits goes as one packet
/// (single NAL unit packet), a larger one as FU-A fragments, and before every IDR the SPS and PPS as one STAP-A;
/// the marker bit is set on the last packet of each access unit. Access unit delimiters are dropped (RFC 6184
/// §5.3 allows it; WebRTC receivers ignore them).
/// </summary>
/// <remarks>
/// <para>Output: the packets of one access unit, back to back, each led by its length as a big-endian
/// <c>ushort</c> (a <em>packet run</em>, read with <see cref="RtpPacketRun"/>). The header carries the
/// packetizer's SSRC, sequence numbers, the given timestamp and payload type <see cref="PayloadType"/>; a viewer
/// copying a packet to protect it may rewrite payload type, sequence number and timestamp there.</para>
/// <para>Parameter sets are tracked from the stream (<see cref="ParameterSets"/>), so an IDR that comes without
/// them still gets the latest. Not thread-safe: one packetizer per feed, fed by one reader.</para>
/// </remarks>
public sealed class H264Packetizer
{
    /// <summary>The RTP header size (no CSRCs, no extension).</summary>
    public const int HeaderSize = 12;

    private const int FuAType = 28;
    private const int StapAType = 24;

    private readonly ParameterSets _parameterSets = new();
    private ushort _sequence;

    /// <summary>Creates a packetizer for SSRC <paramref name="ssrc"/>, whose first packet gets <paramref name="firstSequence"/>.</summary>
    /// <param name="ssrc">The synchronisation source.</param>
    /// <param name="firstSequence">The first sequence number (random, RFC 3550 §5.1).</param>
    /// <param name="maxPacketSize">The most bytes of one RTP packet, header included (1200 keeps SRTP's tag and the IP/UDP headers under a 1280-byte path MTU).</param>
    public H264Packetizer(uint ssrc, ushort firstSequence, int maxPacketSize = 1200)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPacketSize, 64);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPacketSize, ushort.MaxValue);
        Ssrc = ssrc;
        _sequence = firstSequence;
        MaxPacketSize = maxPacketSize;
    }

    /// <summary>The payload type written into headers (viewers replace it with the one they negotiated).</summary>
    public const byte PayloadType = 96;

    /// <summary>The synchronisation source.</summary>
    public uint Ssrc { get; }

    /// <summary>The most bytes of one packet.</summary>
    public int MaxPacketSize { get; }

    /// <summary>The sequence number the next packet gets.</summary>
    public ushort NextSequence => _sequence;

    /// <summary>The parameter sets seen so far (SPS info for codec negotiation).</summary>
    public ParameterSets ParameterSets => _parameterSets;

    /// <summary>
    /// The most bytes <see cref="Packetize"/> writes for <paramref name="accessUnit"/>: found by one pass over its
    /// NAL units, so the buffer can be rented before packetizing.
    /// </summary>
    public int MeasureRun(ReadOnlySpan<byte> accessUnit)
    {
        var maxPayload = MaxPacketSize - HeaderSize;
        var total = 0;
        var parameterBytes = 0;
        foreach (var nal in AnnexB.EnumerateNalUnits(accessUnit))
        {
            var type = AnnexB.TypeOf(nal);
            if (type is NalUnitType.Sps or NalUnitType.Pps)
            {
                parameterBytes += nal.Length + 2;
                continue;
            }

            var fragments = nal.Length <= maxPayload ? 1 : ((nal.Length - 1) + (maxPayload - 2) - 1) / (maxPayload - 2);
            total += nal.Length + (fragments * (2 + HeaderSize + 2));
        }

        // The STAP-A of the stream's or the access unit's parameter sets (possibly split into two packets).
        parameterBytes = Math.Max(parameterBytes, _parameterSets.Sps.Length + _parameterSets.Pps.Length + 4);
        return total + parameterBytes + (2 * (2 + HeaderSize + 1));
    }

    /// <summary>
    /// Writes the packets of one access unit (Annex B) with <paramref name="timestamp"/> (90 kHz) into
    /// <paramref name="destination"/> (at least <see cref="MeasureRun"/> bytes); returns the bytes written and
    /// the number of packets. An access unit with no NAL unit writes nothing. A key frame gets SPS and PPS first.
    /// </summary>
    public int Packetize(ReadOnlySpan<byte> accessUnit, uint timestamp, bool isKeyFrame, Span<byte> destination, out int packets)
    {
        _parameterSets.UpdateFromAccessUnit(accessUnit);
        var maxPayload = MaxPacketSize - HeaderSize;
        var offset = 0;
        packets = 0;
        var last = -1; // offset of the last packet's length prefix, for the marker bit
        var isIdr = isKeyFrame || AnnexB.ContainsIdr(accessUnit);
        if (isIdr && _parameterSets.IsComplete)
        {
            var sps = _parameterSets.Sps.Span;
            var pps = _parameterSets.Pps.Span;
            var stapLength = 1 + 2 + sps.Length + 2 + pps.Length;
            if (stapLength <= maxPayload)
            {
                var payload = BeginPacket(destination, ref offset, stapLength, timestamp, ref last);
                var nri = (byte)(Math.Max(sps[0] & 0x60, pps[0] & 0x60));
                payload[0] = (byte)(nri | StapAType);
                BinaryPrimitives.WriteUInt16BigEndian(payload[1..], (ushort)sps.Length);
                sps.CopyTo(payload[3..]);
                BinaryPrimitives.WriteUInt16BigEndian(payload[(3 + sps.Length)..], (ushort)pps.Length);
                pps.CopyTo(payload[(5 + sps.Length)..]);
                packets++;
            }
            else
            {
                packets += WriteNal(sps, timestamp, destination, ref offset, ref last, maxPayload);
                packets += WriteNal(pps, timestamp, destination, ref offset, ref last, maxPayload);
            }
        }

        foreach (var nal in AnnexB.EnumerateNalUnits(accessUnit))
        {
            var type = AnnexB.TypeOf(nal);
            if (type is NalUnitType.Sps or NalUnitType.Pps or NalUnitType.Aud)
            {
                if (type != NalUnitType.Aud && !(isIdr && _parameterSets.IsComplete))
                {
                    packets += WriteNal(nal, timestamp, destination, ref offset, ref last, maxPayload);
                }

                continue;
            }

            packets += WriteNal(nal, timestamp, destination, ref offset, ref last, maxPayload);
        }

        if (last >= 0)
        {
            destination[last + 2 + 1] |= 0x80; // marker: the access unit's last packet
        }

        return offset;
    }

    private int WriteNal(ReadOnlySpan<byte> nal, uint timestamp, Span<byte> destination, ref int offset, ref int last, int maxPayload)
    {
        if (nal.Length <= maxPayload)
        {
            nal.CopyTo(BeginPacket(destination, ref offset, nal.Length, timestamp, ref last));
            return 1;
        }

        // FU-A: the NAL header's F and NRI in the indicator, its type in the FU header; the header byte itself is not sent.
        var indicator = (byte)((nal[0] & 0xE0) | FuAType);
        var type = (byte)(nal[0] & 0x1F);
        var body = nal[1..];
        var chunk = maxPayload - 2;
        var count = 0;
        for (var start = 0; start < body.Length; start += chunk)
        {
            var length = Math.Min(chunk, body.Length - start);
            var payload = BeginPacket(destination, ref offset, length + 2, timestamp, ref last);
            payload[0] = indicator;
            payload[1] = (byte)(type | (start == 0 ? 0x80 : 0) | (start + length == body.Length ? 0x40 : 0));
            body.Slice(start, length).CopyTo(payload[2..]);
            count++;
        }

        return count;
    }

    /// <summary>Writes the length prefix and RTP header of a packet with <paramref name="payloadLength"/> bytes of payload; returns the payload's span.</summary>
    private Span<byte> BeginPacket(Span<byte> destination, ref int offset, int payloadLength, uint timestamp, ref int last)
    {
        var packetLength = HeaderSize + payloadLength;
        if (destination.Length - offset < packetLength + 2)
        {
            throw new ArgumentException("The destination is smaller than MeasureRun said to rent.", nameof(destination));
        }

        last = offset;
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], (ushort)packetLength);
        var header = destination.Slice(offset + 2, HeaderSize);
        header[0] = 0x80; // version 2, no padding, no extension, no CSRC
        header[1] = PayloadType;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], _sequence++);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], Ssrc);
        offset += 2 + packetLength;
        return destination.Slice(offset - payloadLength, payloadLength);
    }
}

/// <summary>Reads a packet run: RTP packets back to back, each led by its length as a big-endian <c>ushort</c>.</summary>
public ref struct RtpPacketRun
{
    private ReadOnlySpan<byte> _rest;

    /// <summary>Reads <paramref name="run"/>.</summary>
    public RtpPacketRun(ReadOnlySpan<byte> run)
    {
        _rest = run;
        Current = default;
    }

    /// <summary>The current packet.</summary>
    public ReadOnlySpan<byte> Current { readonly get; private set; }

    /// <summary>Returns this, for <c>foreach</c>.</summary>
    public readonly RtpPacketRun GetEnumerator() => this;

    /// <summary>Moves to the next packet; false at the end or at a length that runs past the end.</summary>
    public bool MoveNext()
    {
        if (_rest.Length < 2)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        if (length > _rest.Length - 2)
        {
            _rest = default;
            return false;
        }

        Current = _rest.Slice(2, length);
        _rest = _rest[(2 + length)..];
        return true;
    }

    /// <summary>The number of whole packets in <paramref name="run"/>.</summary>
    public static int Count(ReadOnlySpan<byte> run)
    {
        var count = 0;
        foreach (var _ in new RtpPacketRun(run))
        {
            count++;
        }

        return count;
    }
}
