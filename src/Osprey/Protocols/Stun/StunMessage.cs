using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Security.Cryptography;

namespace Osprey.Protocols.Stun;

/// <summary>
/// STUN (RFC 5389) as ICE-lite needs it: reading a Binding request (USERNAME, PRIORITY, USE-CANDIDATE,
/// ICE-CONTROLLING, MESSAGE-INTEGRITY, FINGERPRINT) and writing the success response with XOR-MAPPED-ADDRESS,
/// MESSAGE-INTEGRITY and FINGERPRINT. Spans in and out; nothing is allocated per message.
/// </summary>
/// <remarks>
/// <code>
///  0                   1                   2                   3
/// |0 0|  message type (14 bits)   |   message length (body bytes) |
/// |                 magic cookie 0x2112A442                       |
/// |                 transaction id (96 bits)                      |
/// | attribute type | attribute length | value, padded to 4 bytes ... |
/// </code>
/// MESSAGE-INTEGRITY is HMAC-SHA1 over the message up to it, with the length field counting up to and including
/// it; FINGERPRINT is CRC-32 of the message up to it, XOR 0x5354554E, with the length counting it too.
/// </remarks>
[SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "RFC 5389 fixes MESSAGE-INTEGRITY as HMAC-SHA1; ICE's peers check exactly that.")]
public static class StunMessage
{
    /// <summary>The fixed header size.</summary>
    public const int HeaderSize = 20;

    /// <summary>The magic cookie of RFC 5389.</summary>
    public const uint MagicCookie = 0x2112A442;

    /// <summary>Binding request.</summary>
    public const ushort BindingRequest = 0x0001;

    /// <summary>Binding success response.</summary>
    public const ushort BindingSuccess = 0x0101;

    /// <summary>Binding error response.</summary>
    public const ushort BindingError = 0x0111;

    /// <summary>The most a Binding response written here takes: header, XOR-MAPPED-ADDRESS (IPv6), MESSAGE-INTEGRITY, FINGERPRINT.</summary>
    public const int MaxResponseSize = HeaderSize + 4 + 20 + 4 + 20 + 4 + 4;

    internal const ushort AttrMappedAddress = 0x0001;
    internal const ushort AttrUsername = 0x0006;
    internal const ushort AttrMessageIntegrity = 0x0008;
    internal const ushort AttrErrorCode = 0x0009;
    internal const ushort AttrXorMappedAddress = 0x0020;
    internal const ushort AttrPriority = 0x0024;
    internal const ushort AttrUseCandidate = 0x0025;
    internal const ushort AttrSoftware = 0x8022;
    internal const ushort AttrFingerprint = 0x8028;
    internal const ushort AttrIceControlled = 0x8029;
    internal const ushort AttrIceControlling = 0x802A;

    private const uint FingerprintXor = 0x5354554E;

    /// <summary>True when <paramref name="datagram"/> looks like STUN: first two bits zero, the magic cookie, a length that fits (RFC 7983's first byte 0-3).</summary>
    public static bool IsStun(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= HeaderSize
        && (datagram[0] & 0xC0) == 0
        && BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) == MagicCookie
        && BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]) + HeaderSize == datagram.Length
        && (datagram[3] & 3) == 0;

    /// <summary>
    /// Reads a STUN message's attributes. False (with why) when it is not well-formed STUN: short, wrong
    /// cookie, a length that does not match, an attribute running past the end, or attributes after FINGERPRINT.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> message, out StunView view, out string? error)
    {
        view = default;
        if (!IsStun(message))
        {
            error = message.Length < HeaderSize ? "shorter than a STUN header" : "not a STUN message (bits, cookie or length)";
            return false;
        }

        var type = BinaryPrimitives.ReadUInt16BigEndian(message);
        int usernameOffset = -1, usernameLength = 0, integrityOffset = -1, fingerprintOffset = -1;
        uint priority = 0;
        bool useCandidate = false, controlling = false, controlled = false;
        ulong tieBreaker = 0;
        var offset = HeaderSize;
        while (offset < message.Length)
        {
            if (message.Length - offset < 4)
            {
                error = "an attribute header is cut off";
                return false;
            }

            if (fingerprintOffset >= 0)
            {
                error = "attributes after FINGERPRINT";
                return false;
            }

            var attrType = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]);
            var valueOffset = offset + 4;
            var padded = (length + 3) & ~3;
            if (valueOffset + padded > message.Length)
            {
                error = $"attribute 0x{attrType:x4} runs past the message";
                return false;
            }

            // Only FINGERPRINT may follow MESSAGE-INTEGRITY (RFC 5389 §15.4); anything else is ignored.
            if (integrityOffset >= 0 && attrType != AttrFingerprint)
            {
                offset = valueOffset + padded;
                continue;
            }

            var value = message.Slice(valueOffset, length);
            switch (attrType)
            {
                case AttrUsername:
                    if (length > 513)
                    {
                        error = "USERNAME longer than 513 bytes";
                        return false;
                    }

                    usernameOffset = valueOffset;
                    usernameLength = length;
                    break;
                case AttrPriority when length == 4:
                    priority = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case AttrUseCandidate:
                    useCandidate = true;
                    break;
                case AttrIceControlling when length == 8:
                    controlling = true;
                    tieBreaker = BinaryPrimitives.ReadUInt64BigEndian(value);
                    break;
                case AttrIceControlled when length == 8:
                    controlled = true;
                    tieBreaker = BinaryPrimitives.ReadUInt64BigEndian(value);
                    break;
                case AttrMessageIntegrity:
                    if (length != 20)
                    {
                        error = "MESSAGE-INTEGRITY is not 20 bytes";
                        return false;
                    }

                    integrityOffset = offset;
                    break;
                case AttrFingerprint:
                    if (length != 4)
                    {
                        error = "FINGERPRINT is not 4 bytes";
                        return false;
                    }

                    fingerprintOffset = offset;
                    break;
            }

            offset = valueOffset + padded;
        }

        view = new StunView(type, usernameOffset, usernameLength, priority, useCandidate, controlling, controlled, tieBreaker, integrityOffset, fingerprintOffset);
        error = null;
        return true;
    }

    /// <summary>The transaction id of <paramref name="message"/> (12 bytes).</summary>
    public static ReadOnlySpan<byte> TransactionId(ReadOnlySpan<byte> message) => message.Slice(8, 12);

    /// <summary>True when the message's FINGERPRINT is there and right.</summary>
    public static bool CheckFingerprint(ReadOnlySpan<byte> message, in StunView view)
    {
        if (view.FingerprintOffset < 0)
        {
            return false;
        }

        // The length field already counts the FINGERPRINT, which is the last attribute.
        var expected = BinaryPrimitives.ReadUInt32BigEndian(message[(view.FingerprintOffset + 4)..]);
        return (Crc32.Compute(message[..view.FingerprintOffset]) ^ FingerprintXor) == expected;
    }

    /// <summary>
    /// True when the message's MESSAGE-INTEGRITY is there and right for <paramref name="key"/> (ICE's short-term
    /// credential: the password's UTF-8 bytes).
    /// </summary>
    public static bool CheckIntegrity(ReadOnlySpan<byte> message, in StunView view, ReadOnlySpan<byte> key)
    {
        if (view.IntegrityOffset < 0 || message.Length > 1500)
        {
            return false;
        }

        // The HMAC covers the message up to MESSAGE-INTEGRITY with the length field as if it ended right after it.
        Span<byte> copy = stackalloc byte[view.IntegrityOffset];
        message[..view.IntegrityOffset].CopyTo(copy);
        BinaryPrimitives.WriteUInt16BigEndian(copy[2..], (ushort)(view.IntegrityOffset + 24 - HeaderSize));
        Span<byte> mac = stackalloc byte[20];
        HMACSHA1.HashData(key, copy, mac);
        return CryptographicOperations.FixedTimeEquals(mac, message.Slice(view.IntegrityOffset + 4, 20));
    }

    /// <summary>
    /// Writes a Binding success response to the request with <paramref name="transactionId"/>:
    /// XOR-MAPPED-ADDRESS of <paramref name="mapped"/>, MESSAGE-INTEGRITY keyed with <paramref name="key"/>,
    /// FINGERPRINT. Returns the bytes written (at most <see cref="MaxResponseSize"/>).
    /// </summary>
    public static int WriteBindingSuccess(Span<byte> destination, ReadOnlySpan<byte> transactionId, IPEndPoint mapped, ReadOnlySpan<byte> key)
    {
        ArgumentNullException.ThrowIfNull(mapped);
        var offset = WriteHeader(destination, BindingSuccess, transactionId);
        offset += WriteXorMappedAddress(destination[offset..], transactionId, mapped);
        return Finish(destination, offset, key);
    }

    /// <summary>
    /// Writes a Binding request (what a browser sends; for tests and the load tool): USERNAME, PRIORITY,
    /// ICE-CONTROLLING, USE-CANDIDATE when asked, MESSAGE-INTEGRITY and FINGERPRINT.
    /// </summary>
    public static int WriteBindingRequest(Span<byte> destination, ReadOnlySpan<byte> transactionId, ReadOnlySpan<byte> username, uint priority, ulong tieBreaker, bool useCandidate, ReadOnlySpan<byte> key)
    {
        var offset = WriteHeader(destination, BindingRequest, transactionId);
        offset += WriteAttribute(destination[offset..], AttrUsername, username);
        Span<byte> value = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(value, priority);
        offset += WriteAttribute(destination[offset..], AttrPriority, value[..4]);
        BinaryPrimitives.WriteUInt64BigEndian(value, tieBreaker);
        offset += WriteAttribute(destination[offset..], AttrIceControlling, value);
        if (useCandidate)
        {
            offset += WriteAttribute(destination[offset..], AttrUseCandidate, []);
        }

        return Finish(destination, offset, key);
    }

    /// <summary>Reads the XOR-MAPPED-ADDRESS of a response; false when it has none.</summary>
    public static bool TryReadXorMappedAddress(ReadOnlySpan<byte> message, out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (!IsStun(message))
        {
            return false;
        }

        var offset = HeaderSize;
        while (offset + 4 <= message.Length)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]);
            if (offset + 4 + length > message.Length)
            {
                return false;
            }

            if (type == AttrXorMappedAddress && length >= 8)
            {
                var value = message.Slice(offset + 4, length);
                var port = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(value[2..]) ^ (MagicCookie >> 16));
                if (value[1] == 1 && length == 8)
                {
                    var address = BinaryPrimitives.ReadUInt32BigEndian(value[4..]) ^ MagicCookie;
                    Span<byte> bytes = stackalloc byte[4];
                    BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
                    endPoint = new IPEndPoint(new IPAddress(bytes), port);
                    return true;
                }

                if (value[1] == 2 && length == 20)
                {
                    Span<byte> bytes = stackalloc byte[16];
                    Span<byte> mask = stackalloc byte[16];
                    BinaryPrimitives.WriteUInt32BigEndian(mask, MagicCookie);
                    TransactionId(message).CopyTo(mask[4..]);
                    for (var i = 0; i < 16; i++)
                    {
                        bytes[i] = (byte)(value[4 + i] ^ mask[i]);
                    }

                    endPoint = new IPEndPoint(new IPAddress(bytes), port);
                    return true;
                }

                return false;
            }

            offset += 4 + ((length + 3) & ~3);
        }

        return false;
    }

    private static int WriteHeader(Span<byte> destination, ushort type, ReadOnlySpan<byte> transactionId)
    {
        if (transactionId.Length != 12)
        {
            throw new ArgumentException("A STUN transaction id is 12 bytes.", nameof(transactionId));
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], MagicCookie);
        transactionId.CopyTo(destination[8..]);
        return HeaderSize;
    }

    private static int WriteAttribute(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)value.Length);
        value.CopyTo(destination[4..]);
        var padded = (value.Length + 3) & ~3;
        destination.Slice(4 + value.Length, padded - value.Length).Clear();
        return 4 + padded;
    }

    private static int WriteXorMappedAddress(Span<byte> destination, ReadOnlySpan<byte> transactionId, IPEndPoint mapped)
    {
        var address = mapped.Address.IsIPv4MappedToIPv6 ? mapped.Address.MapToIPv4() : mapped.Address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        var v4 = written == 4;
        var length = v4 ? 8 : 20;
        BinaryPrimitives.WriteUInt16BigEndian(destination, AttrXorMappedAddress);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        destination[4] = 0;
        destination[5] = (byte)(v4 ? 1 : 2);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)(mapped.Port ^ (int)(MagicCookie >> 16)));
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, MagicCookie);
        transactionId.CopyTo(mask[4..]);
        for (var i = 0; i < written; i++)
        {
            destination[8 + i] = (byte)(bytes[i] ^ mask[i]);
        }

        return 4 + length;
    }

    /// <summary>Appends MESSAGE-INTEGRITY and FINGERPRINT, fixing the length field for each.</summary>
    private static int Finish(Span<byte> destination, int offset, ReadOnlySpan<byte> key)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(offset + 24 - HeaderSize));
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], AttrMessageIntegrity);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], 20);
        HMACSHA1.HashData(key, destination[..offset], destination.Slice(offset + 4, 20));
        offset += 24;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(offset + 8 - HeaderSize));
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], AttrFingerprint);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], 4);
        BinaryPrimitives.WriteUInt32BigEndian(destination[(offset + 4)..], Crc32.Compute(destination[..offset]) ^ FingerprintXor);
        return offset + 8;
    }
}

/// <summary>What <see cref="StunMessage.TryParse"/> found; offsets into the parsed message (-1: absent).</summary>
public readonly record struct StunView(
    ushort Type,
    int UsernameOffset,
    int UsernameLength,
    uint Priority,
    bool UseCandidate,
    bool IceControlling,
    bool IceControlled,
    ulong TieBreaker,
    int IntegrityOffset,
    int FingerprintOffset)
{
    /// <summary>The USERNAME's bytes in <paramref name="message"/>; empty when there is none.</summary>
    public ReadOnlySpan<byte> Username(ReadOnlySpan<byte> message) =>
        UsernameOffset < 0 ? default : message.Slice(UsernameOffset, UsernameLength);
}

/// <summary>CRC-32 (IEEE 802.3, reflected, as zlib and STUN's FINGERPRINT use it).</summary>
public static class Crc32
{
    private static readonly uint[] s_table = MakeTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = s_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] MakeTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
