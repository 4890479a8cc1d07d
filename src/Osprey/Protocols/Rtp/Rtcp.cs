using System.Buffers.Binary;
using System.Text;

namespace Osprey.Protocols.Rtp;

/// <summary>
/// RTCP (RFC 3550, RFC 4585, RFC 5104) as a sender of one video stream needs it: writing a sender report with
/// a CNAME, and reading what receivers send back: receiver reports, generic NACKs, PLI and FIR.
/// </summary>
public static class Rtcp
{
    /// <summary>Sender report.</summary>
    public const byte SenderReport = 200;

    /// <summary>Receiver report.</summary>
    public const byte ReceiverReport = 201;

    /// <summary>Source description.</summary>
    public const byte SourceDescription = 202;

    /// <summary>Goodbye.</summary>
    public const byte Goodbye = 203;

    /// <summary>Transport-layer feedback (RFC 4585): FMT 1 is a generic NACK.</summary>
    public const byte TransportFeedback = 205;

    /// <summary>Payload-specific feedback (RFC 4585): FMT 1 is PLI, 4 is FIR (RFC 5104), 15 application (REMB).</summary>
    public const byte PayloadFeedback = 206;

    /// <summary>The bytes <see cref="WriteSenderReport"/> writes for a CNAME of <paramref name="cnameLength"/> bytes.</summary>
    public static int SenderReportSize(int cnameLength) => 28 + 4 + (((4 + 2 + cnameLength + 1) + 3) & ~3);

    /// <summary>The 64-bit NTP timestamp of <paramref name="utc"/>.</summary>
    public static ulong NtpTimestamp(DateTime utc)
    {
        var since = utc - new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var seconds = (ulong)(since.Ticks / TimeSpan.TicksPerSecond);
        var fraction = (ulong)(since.Ticks % TimeSpan.TicksPerSecond) * (1UL << 32) / TimeSpan.TicksPerSecond;
        return (seconds << 32) | fraction;
    }

    /// <summary>
    /// Writes a compound RTCP packet: a sender report (no report blocks) and an SDES with the CNAME; returns the
    /// bytes written.
    /// </summary>
    public static int WriteSenderReport(Span<byte> destination, uint ssrc, ulong ntp, uint rtpTimestamp, uint packets, uint octets, ReadOnlySpan<byte> cname)
    {
        if (cname.Length > 255)
        {
            throw new ArgumentException("A CNAME is at most 255 bytes.", nameof(cname));
        }

        destination[0] = 0x80;
        destination[1] = SenderReport;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 6);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], ssrc);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], ntp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], rtpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[20..], packets);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], octets);
        var sdes = destination[28..];
        var chunk = 4 + 2 + cname.Length + 1; // SSRC, CNAME item, end of list
        var padded = (chunk + 3) & ~3;
        sdes[0] = 0x81;
        sdes[1] = SourceDescription;
        BinaryPrimitives.WriteUInt16BigEndian(sdes[2..], (ushort)(padded / 4));
        BinaryPrimitives.WriteUInt32BigEndian(sdes[4..], ssrc);
        sdes[8] = 1; // CNAME
        sdes[9] = (byte)cname.Length;
        cname.CopyTo(sdes[10..]);
        sdes.Slice(10 + cname.Length, padded - chunk + 1).Clear();
        return 28 + 4 + padded;
    }

    /// <summary>Writes a PLI from <paramref name="sender"/> about <paramref name="mediaSsrc"/> (for tests and the load tool).</summary>
    public static int WritePictureLossIndication(Span<byte> destination, uint sender, uint mediaSsrc)
    {
        destination[0] = 0x81;
        destination[1] = PayloadFeedback;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 2);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], sender);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], mediaSsrc);
        return 12;
    }

    /// <summary>Writes a generic NACK for <paramref name="sequence"/> and the 16 after it flagged in <paramref name="mask"/>.</summary>
    public static int WriteNack(Span<byte> destination, uint sender, uint mediaSsrc, ushort sequence, ushort mask)
    {
        destination[0] = 0x81;
        destination[1] = TransportFeedback;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 3);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], sender);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], mediaSsrc);
        BinaryPrimitives.WriteUInt16BigEndian(destination[12..], sequence);
        BinaryPrimitives.WriteUInt16BigEndian(destination[14..], mask);
        return 16;
    }

    /// <summary>The packets of a compound RTCP packet; stops at the first one that is malformed.</summary>
    public static RtcpPacketEnumerator Enumerate(ReadOnlySpan<byte> compound) => new(compound);

    /// <summary>The sequence numbers a generic NACK's FCI entries name (each entry a PID and a 16-bit mask of the ones after it).</summary>
    public static int ReadNackSequences(ReadOnlySpan<byte> fci, Span<ushort> destination)
    {
        var count = 0;
        for (var i = 0; i + 4 <= fci.Length; i += 4)
        {
            var pid = BinaryPrimitives.ReadUInt16BigEndian(fci[i..]);
            var mask = BinaryPrimitives.ReadUInt16BigEndian(fci[(i + 2)..]);
            if (count < destination.Length)
            {
                destination[count++] = pid;
            }

            for (var bit = 0; bit < 16 && mask != 0; bit++)
            {
                if ((mask & (1 << bit)) != 0 && count < destination.Length)
                {
                    destination[count++] = (ushort)(pid + bit + 1);
                }
            }
        }

        return count;
    }

    /// <summary>A CNAME as bytes.</summary>
    public static byte[] Cname(string cname) => Encoding.ASCII.GetBytes(cname);
}

/// <summary>One packet of a compound RTCP packet.</summary>
/// <param name="Type">The packet type (200 SR, 201 RR, 205 RTPFB, 206 PSFB, ...).</param>
/// <param name="Format">The five bits after version and padding: report count, or the feedback message type.</param>
/// <param name="SenderSsrc">The first SSRC (the packet's sender).</param>
/// <param name="MediaSsrc">For feedback, the media source it is about; 0 otherwise.</param>
/// <param name="Fci">For feedback, the feedback control information; for reports, what follows the sender SSRC.</param>
public readonly ref struct RtcpPacket(byte Type, int Format, uint SenderSsrc, uint MediaSsrc, ReadOnlySpan<byte> Fci)
{
    /// <summary>The packet type.</summary>
    public byte Type { get; } = Type;

    /// <summary>The count or feedback format.</summary>
    public int Format { get; } = Format;

    /// <summary>The packet's sender.</summary>
    public uint SenderSsrc { get; } = SenderSsrc;

    /// <summary>The media source a feedback message is about.</summary>
    public uint MediaSsrc { get; } = MediaSsrc;

    /// <summary>The rest of the packet (FCI of feedback).</summary>
    public ReadOnlySpan<byte> Fci { get; } = Fci;

    /// <summary>True for a generic NACK.</summary>
    public bool IsNack => Type == Rtcp.TransportFeedback && Format == 1;

    /// <summary>True for a picture loss indication.</summary>
    public bool IsPli => Type == Rtcp.PayloadFeedback && Format == 1;

    /// <summary>True for a full intra request.</summary>
    public bool IsFir => Type == Rtcp.PayloadFeedback && Format == 4;
}

/// <summary>Enumerates the packets of a compound RTCP packet.</summary>
public ref struct RtcpPacketEnumerator
{
    private ReadOnlySpan<byte> _rest;

    internal RtcpPacketEnumerator(ReadOnlySpan<byte> compound)
    {
        _rest = compound;
        Current = default;
    }

    /// <summary>The current packet.</summary>
    public RtcpPacket Current { readonly get; private set; }

    /// <summary>True when enumeration stopped at a malformed packet rather than at the end.</summary>
    public bool Malformed { readonly get; private set; }

    /// <summary>Returns this, for <c>foreach</c>.</summary>
    public readonly RtcpPacketEnumerator GetEnumerator() => this;

    /// <summary>Moves to the next packet.</summary>
    public bool MoveNext()
    {
        if (_rest.IsEmpty)
        {
            return false;
        }

        if (_rest.Length < 8 || (_rest[0] >> 6) != 2)
        {
            Malformed = true;
            _rest = default;
            return false;
        }

        var length = (BinaryPrimitives.ReadUInt16BigEndian(_rest[2..]) + 1) * 4;
        if (length > _rest.Length)
        {
            Malformed = true;
            _rest = default;
            return false;
        }

        var packet = _rest[..length];
        _rest = _rest[length..];
        var type = packet[1];
        var format = packet[0] & 0x1F;
        var sender = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        if (type is Rtcp.TransportFeedback or Rtcp.PayloadFeedback)
        {
            if (packet.Length < 12)
            {
                Malformed = true;
                _rest = default;
                return false;
            }

            Current = new RtcpPacket(type, format, sender, BinaryPrimitives.ReadUInt32BigEndian(packet[8..]), packet[12..]);
        }
        else
        {
            Current = new RtcpPacket(type, format, sender, 0, packet[8..]);
        }

        return true;
    }
}
