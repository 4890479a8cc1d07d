using System.Buffers.Binary;
using Osprey.Media;

namespace Osprey.Codecs.H264;

/// <summary>
/// The probe header (<see cref="ProbeHeader"/>) carried in an H.264 SEI NAL unit, a user_data_unregistered message
/// (payload type 5, H.264 §D.1.6), so that latency is measurable on H.264 and fMP4 paths. Decoders ignore it.
/// </summary>
/// <remarks>
/// <para>The NAL unit is always <see cref="AnnexBSize"/> bytes:</para>
/// <code>
/// 00 00 00 01      start code
/// 06               nal_unit_header: forbidden_zero_bit 0, nal_ref_idc 0, nal_unit_type 6 (SEI)
/// 05               last_payload_type_byte: 5, user_data_unregistered
/// NN               last_payload_size_byte: 16 + 32 + (16 − e)
/// [16]             uuid_iso_iec_11578: ebb78f79-2a5b-4140-b6df-afb39db49ce4 (see <see cref="Uuid"/>)
/// [32 + e]         the probe header, with e emulation_prevention_three_bytes (§7.4.1) where it holds 00 00 0x
/// [16 − e]         FF padding (user_data_payload_byte)
/// 80               rbsp_trailing_bits
/// </code>
/// <para>
/// Each emulation-prevention byte follows two zero bytes of the header, so there are at most 16 of them (at most
/// 15 in fact); padding by 16 − e keeps the NAL unit's size constant, so a writer can reserve it ahead of an
/// encoder's output. The UUID has no byte below 04, so nothing around it needs escaping; the padding (FF) and the
/// trailing 80 never do.
/// </para>
/// <para>
/// §7.4.1.2.3: an SEI after the last slice of a picture starts the next access unit, so the probe must go before
/// the access unit's first slice (after its AUD, SPS and PPS). <c>Fmp4Writer</c> keeps SEI NAL units in samples.
/// </para>
/// </remarks>
public static class H264Probe
{
    /// <summary>Bytes of the NAL unit with its 4-byte start code; the same for every header.</summary>
    public const int AnnexBSize = 4 + 1 + 1 + 1 + UuidSize + ProbeHeader.Size + MaxEscapes + 1;

    private const int UuidSize = 16;

    // At most one emulation-prevention byte per two header bytes.
    private const int MaxEscapes = ProbeHeader.Size / 2;

    private const byte SeiHeader = (byte)NalUnitType.Sei;
    private const byte UserDataUnregistered = 5;
    private const byte Padding = 0xFF;
    private const byte RbspTrailingBits = 0x80;

    /// <summary>
    /// The UUID identifying Osprey's probe message, ebb78f79-2a5b-4140-b6df-afb39db49ce4 (random, version 4), in
    /// its 16 bytes as they are written.
    /// </summary>
    public static ReadOnlySpan<byte> Uuid => [0xEB, 0xB7, 0x8F, 0x79, 0x2A, 0x5B, 0x41, 0x40, 0xB6, 0xDF, 0xAF, 0xB3, 0x9D, 0xB4, 0x9C, 0xE4];

    /// <summary>
    /// Writes the SEI NAL unit with its 4-byte start code into the first <see cref="AnnexBSize"/> bytes of
    /// <paramref name="destination"/>; returns <see cref="AnnexBSize"/>.
    /// </summary>
    public static int WriteAnnexB(Span<byte> destination, in ProbeHeader header)
    {
        if (destination.Length < AnnexBSize)
        {
            throw new ArgumentException($"The H.264 probe needs {AnnexBSize} bytes.", nameof(destination));
        }

        Span<byte> raw = stackalloc byte[ProbeHeader.Size + 4];
        header.WriteTo(raw);

        BinaryPrimitives.WriteUInt32BigEndian(destination, 1);
        destination[4] = SeiHeader;
        destination[5] = UserDataUnregistered;
        Uuid.CopyTo(destination[7..]);
        var pos = 7 + UuidSize;
        var zeros = 0;
        foreach (var b in raw[..ProbeHeader.Size])
        {
            if (zeros >= 2 && b <= 3)
            {
                destination[pos++] = 3;
                zeros = 0;
            }

            destination[pos++] = b;
            zeros = b == 0 ? zeros + 1 : 0;
        }

        var escapes = pos - (7 + UuidSize + ProbeHeader.Size);
        destination[6] = (byte)(UuidSize + ProbeHeader.Size + MaxEscapes - escapes);
        destination[pos..(AnnexBSize - 1)].Fill(Padding);
        destination[AnnexBSize - 1] = RbspTrailingBits;
        return AnnexBSize;
    }

    /// <summary>
    /// Finds Osprey's probe SEI in an Annex B access unit, or in an AVCC sample (NAL units each behind a 4-byte
    /// big-endian length, as in an MP4 mdat), and reads the header it carries.
    /// </summary>
    /// <remarks>
    /// The buffer is read as AVCC when its lengths chain exactly to its end, otherwise as Annex B. Every
    /// user_data_unregistered message of every SEI NAL unit is checked, so the probe may share a NAL unit with
    /// other SEI messages.
    /// </remarks>
    public static bool TryRead(ReadOnlySpan<byte> annexBOrLengthPrefixed, out ProbeHeader header)
    {
        if (IsLengthPrefixed(annexBOrLengthPrefixed))
        {
            for (var rest = annexBOrLengthPrefixed; !rest.IsEmpty;)
            {
                var length = (int)BinaryPrimitives.ReadUInt32BigEndian(rest);
                if (TryReadSei(rest.Slice(4, length), out header))
                {
                    return true;
                }

                rest = rest[(4 + length)..];
            }
        }
        else
        {
            foreach (var nal in AnnexB.EnumerateNalUnits(annexBOrLengthPrefixed))
            {
                if (TryReadSei(nal, out header))
                {
                    return true;
                }
            }
        }

        header = default;
        return false;
    }

    private static bool IsLengthPrefixed(ReadOnlySpan<byte> data)
    {
        while (data.Length >= 5)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(data);
            if (length == 0 || length > (uint)(data.Length - 4) || (data[4] & 0x80) != 0)
            {
                return false;
            }

            data = data[(4 + (int)length)..];
        }

        return data.IsEmpty;
    }

    // sei_rbsp(): sei_message()* rbsp_trailing_bits; sei_message(): type and size as runs of FF plus a last byte.
    private static bool TryReadSei(ReadOnlySpan<byte> nal, out ProbeHeader header)
    {
        header = default;
        if (AnnexB.TypeOf(nal) != NalUnitType.Sei)
        {
            return false;
        }

        var reader = new EscapedReader(nal[1..]);
        Span<byte> payload = stackalloc byte[UuidSize + ProbeHeader.Size];
        while (reader.Remaining > 1)
        {
            if (!reader.TryReadSeiValue(out var type) || !reader.TryReadSeiValue(out var size))
            {
                return false;
            }

            if (type == UserDataUnregistered && size >= UuidSize + ProbeHeader.Size)
            {
                if (!reader.TryRead(payload))
                {
                    return false;
                }

                if (payload[..UuidSize].SequenceEqual(Uuid))
                {
                    return ProbeHeader.TryRead(payload[UuidSize..], out header);
                }

                size -= UuidSize + ProbeHeader.Size;
            }

            if (!reader.TrySkip(size))
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>Reads a NAL unit's payload byte by byte, dropping emulation-prevention bytes (00 00 03 → 00 00).</summary>
    private ref struct EscapedReader(ReadOnlySpan<byte> escaped)
    {
        private readonly ReadOnlySpan<byte> _data = escaped;
        private int _pos;
        private int _zeros;

        public readonly int Remaining => _data.Length - _pos;

        public bool TryReadByte(out byte value)
        {
            value = 0;
            if (_pos >= _data.Length)
            {
                return false;
            }

            value = _data[_pos++];
            if (_zeros >= 2 && value == 3)
            {
                _zeros = 0;
                if (_pos >= _data.Length)
                {
                    return false;
                }

                value = _data[_pos++];
            }

            _zeros = value == 0 ? _zeros + 1 : 0;
            return true;
        }

        public bool TryRead(scoped Span<byte> destination)
        {
            for (var i = 0; i < destination.Length; i++)
            {
                if (!TryReadByte(out destination[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public bool TrySkip(int count)
        {
            for (var i = 0; i < count; i++)
            {
                if (!TryReadByte(out _))
                {
                    return false;
                }
            }

            return true;
        }

        public bool TryReadSeiValue(out int value)
        {
            value = 0;
            byte b;
            do
            {
                if (!TryReadByte(out b) || value > 1 << 20)
                {
                    return false;
                }

                value += b;
            }
            while (b == 0xFF);

            return true;
        }
    }
}
