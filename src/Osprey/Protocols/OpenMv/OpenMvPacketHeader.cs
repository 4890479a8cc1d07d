using System.Buffers;
using System.Buffers.Binary;

namespace Osprey.Protocols.OpenMv;

/// <summary>
/// The 10-byte packet header of OpenMV protocol V2 and the packet encoder.
/// </summary>
/// <remarks>
/// <code>
/// off size field (little-endian; openmv/openmv docs/protocol.md §2, omv_protocol_packet_t)
///  0   2   SYNC 0xD5AA (AA D5 on the wire)
///  2   1   SEQ
///  3   1   CHAN
///  4   1   FLAGS
///  5   1   OPCODE
///  6   2   LENGTH (payload bytes)
///  8   2   CRC-16 over bytes 0..7
/// 10   N   payload
/// 10+N 4   CRC-32 over the payload, only when N &gt; 0
/// </code>
/// </remarks>
public readonly record struct OpenMvPacketHeader(byte Sequence, byte Channel, OpenMvFlags Flags, OpenMvOpcode Opcode, ushort Length)
{
    /// <summary>True for events, which never advance the sequence and are never acknowledged.</summary>
    public bool IsEvent => (Flags & OpenMvFlags.Event) != 0;

    /// <summary>True for status packets (ACK or NAK).</summary>
    public bool IsStatus => (Flags & (OpenMvFlags.Ack | OpenMvFlags.Nak)) != 0;

    /// <summary>Writes the 10 header bytes (CRC-16 included) into <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < OpenMvProtocol.HeaderSize)
        {
            throw new ArgumentException($"An OpenMV header needs {OpenMvProtocol.HeaderSize} bytes.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, OpenMvProtocol.Sync);
        destination[2] = Sequence;
        destination[3] = Channel;
        destination[4] = (byte)Flags;
        destination[5] = (byte)Opcode;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], Length);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], OpenMvCrc.Crc16(destination[..8]));
    }

    /// <summary>
    /// Reads a header whose sync word and CRC-16 are valid; false otherwise (the caller then skips one byte and
    /// rescans, as the device's parser does).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out OpenMvPacketHeader header)
    {
        if (source.Length < OpenMvProtocol.HeaderSize ||
            BinaryPrimitives.ReadUInt16LittleEndian(source) != OpenMvProtocol.Sync ||
            BinaryPrimitives.ReadUInt16LittleEndian(source[8..]) != OpenMvCrc.Crc16(source[..8]))
        {
            header = default;
            return false;
        }

        header = new OpenMvPacketHeader(source[2], source[3], (OpenMvFlags)source[4], (OpenMvOpcode)source[5],
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]));
        return true;
    }

    /// <summary>Encodes a whole packet (header, payload, payload CRC) into <paramref name="destination"/>; returns its size.</summary>
    /// <remarks>The header's <see cref="Length"/> is taken from <paramref name="payload"/>.</remarks>
    public static int Encode(Span<byte> destination, byte sequence, byte channel, OpenMvFlags flags, OpenMvOpcode opcode, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > ushort.MaxValue)
        {
            throw new ArgumentException("An OpenMV payload is at most 65535 bytes.", nameof(payload));
        }

        var size = OpenMvProtocol.PacketSize(payload.Length);
        if (destination.Length < size)
        {
            throw new ArgumentException($"The packet needs {size} bytes.", nameof(destination));
        }

        new OpenMvPacketHeader(sequence, channel, flags, opcode, (ushort)payload.Length).WriteTo(destination);
        if (payload.Length > 0)
        {
            payload.CopyTo(destination[OpenMvProtocol.HeaderSize..]);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[(OpenMvProtocol.HeaderSize + payload.Length)..], OpenMvCrc.Crc32(payload));
        }

        return size;
    }

    /// <summary>Encodes a whole packet into <paramref name="writer"/>; returns its size.</summary>
    public static int Encode(IBufferWriter<byte> writer, byte sequence, byte channel, OpenMvFlags flags, OpenMvOpcode opcode, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var size = OpenMvProtocol.PacketSize(payload.Length);
        var written = Encode(writer.GetSpan(size), sequence, channel, flags, opcode, payload);
        writer.Advance(written);
        return written;
    }
}
