using System.Buffers.Binary;

namespace Osprey.Protocols.OpenMv;

/// <summary>What <see cref="OpenMvPacketDecoder.TryDecode"/> found.</summary>
public enum OpenMvDecodeResult
{
    /// <summary>No whole packet buffered yet.</summary>
    NeedMoreData,

    /// <summary>A packet with valid CRCs.</summary>
    Packet,

    /// <summary>
    /// A packet whose header is valid but whose payload CRC is not: the payload was dropped, and the header is
    /// reported so that the receiver can NAK it (the sender then retransmits at once instead of after its timeout).
    /// </summary>
    CorruptPayload,
}

/// <summary>
/// Incremental decoder of OpenMV protocol V2 packets from a byte stream (serial) or from datagrams (UDP).
/// </summary>
/// <remarks>
/// <para>Recovery follows the device's own parser (<c>omv_protocol.c</c>): bytes before a sync word are garbage; a
/// header with a bad CRC-16 or a length above the max payload consumes one byte and the scan starts again, so a
/// truncated or corrupted packet can never wedge the stream. A packet with a good header and a bad payload CRC is
/// dropped whole (its length is covered by the header CRC). Everything dropped is counted; nothing throws.</para>
/// <para>Not thread-safe: one reader owns it. A decoded payload is a view of the decoder's buffer, valid until the
/// next call.</para>
/// </remarks>
public sealed class OpenMvPacketDecoder
{
    private readonly byte[] _buffer;
    private int _start;
    private int _end;
    private int _maxPayload;

    /// <summary>Creates a decoder accepting payloads up to <paramref name="maxPayload"/> bytes.</summary>
    public OpenMvPacketDecoder(int maxPayload = OpenMvProtocol.MaxPayload)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPayload, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPayload, ushort.MaxValue);
        _maxPayload = maxPayload;
        // Room for two whole packets, so a packet straddling a read always fits after compaction.
        _buffer = new byte[2 * OpenMvProtocol.PacketSize(ushort.MaxValue)];
    }

    /// <summary>The largest payload accepted; longer headers are treated as corrupt.</summary>
    public int MaxPayload
    {
        get => _maxPayload;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, ushort.MaxValue);
            _maxPayload = value;
        }
    }

    /// <summary>Bytes skipped while looking for a sync word or after a rejected header.</summary>
    public long GarbageBytes { get; private set; }

    /// <summary>Headers rejected for their CRC-16.</summary>
    public long HeaderCrcErrors { get; private set; }

    /// <summary>Packets dropped for their payload CRC-32.</summary>
    public long PayloadCrcErrors { get; private set; }

    /// <summary>Headers rejected because their length exceeded <see cref="MaxPayload"/>.</summary>
    public long OversizedPackets { get; private set; }

    /// <summary>Packets decoded whole.</summary>
    public long Packets { get; private set; }

    /// <summary>Bytes buffered and not yet decoded.</summary>
    public int Buffered => _end - _start;

    /// <summary>Where the next received bytes go; call <see cref="Advance"/> with how many were written.</summary>
    public Memory<byte> GetMemory()
    {
        Compact();
        return _buffer.AsMemory(_end);
    }

    /// <summary>Commits <paramref name="count"/> bytes written into <see cref="GetMemory"/>.</summary>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _end);
        _end += count;
    }

    /// <summary>Copies <paramref name="data"/> in; what does not fit (more than a buffer's worth of garbage) is counted and dropped.</summary>
    public void Push(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            var space = GetMemory().Span;
            if (space.Length == 0)
            {
                // Only possible when the buffer is full of bytes that are not yet a packet: drop the oldest.
                GarbageBytes++;
                _start++;
                continue;
            }

            var take = Math.Min(space.Length, data.Length);
            data[..take].CopyTo(space);
            _end += take;
            data = data[take..];
        }
    }

    /// <summary>Drops everything buffered (a datagram ended, the link was reset).</summary>
    public void Reset()
    {
        GarbageBytes += _end - _start;
        _start = _end = 0;
    }

    /// <summary>Decodes the next packet, skipping and counting anything that is not one.</summary>
    public OpenMvDecodeResult TryDecode(out OpenMvPacketHeader header, out ReadOnlySpan<byte> payload)
    {
        while (true)
        {
            var data = _buffer.AsSpan(_start, _end - _start);
            var sync = FindSync(data);
            if (sync < 0)
            {
                // Keep a trailing 0xAA: it may be the first half of a sync word split across reads.
                var keep = data.Length > 0 && data[^1] == 0xAA ? 1 : 0;
                GarbageBytes += data.Length - keep;
                _start = _end - keep;
                break;
            }

            GarbageBytes += sync;
            _start += sync;
            data = data[sync..];
            if (data.Length < OpenMvProtocol.HeaderSize)
            {
                break;
            }

            if (!OpenMvPacketHeader.TryRead(data, out header))
            {
                HeaderCrcErrors++;
                GarbageBytes++;
                _start++;
                continue;
            }

            if (header.Length > _maxPayload)
            {
                OversizedPackets++;
                GarbageBytes++;
                _start++;
                continue;
            }

            var size = OpenMvProtocol.PacketSize(header.Length);
            if (data.Length < size)
            {
                break;
            }

            _start += size;
            if (header.Length == 0)
            {
                payload = default;
                Packets++;
                return OpenMvDecodeResult.Packet;
            }

            payload = data.Slice(OpenMvProtocol.HeaderSize, header.Length);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(data[(OpenMvProtocol.HeaderSize + header.Length)..]);
            if (crc != OpenMvCrc.Crc32(payload))
            {
                PayloadCrcErrors++;
                payload = default;
                return OpenMvDecodeResult.CorruptPayload;
            }

            Packets++;
            return OpenMvDecodeResult.Packet;
        }

        header = default;
        payload = default;
        return OpenMvDecodeResult.NeedMoreData;
    }

    private static int FindSync(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        while (true)
        {
            var index = data[offset..].IndexOf((byte)0xAA);
            if (index < 0)
            {
                return -1;
            }

            offset += index;
            if (offset + 1 >= data.Length)
            {
                return offset; // A lone 0xAA at the end: wait for the next byte.
            }

            if (data[offset + 1] == 0xD5)
            {
                return offset;
            }

            offset++;
        }
    }

    private void Compact()
    {
        if (_start == 0)
        {
            return;
        }

        // A payload span handed out by TryDecode stays valid until this call, which comes with the next read.
        Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
        _end -= _start;
        _start = 0;
    }
}
