using System.Buffers.Binary;

namespace Osprey.Protocols.WebSockets;

/// <summary>
/// Follows the frame headers of a client's byte stream without keeping payloads, and stops at the first header
/// a server must refuse: an unmasked frame, reserved bits, an unknown opcode, a long or fragmented control frame,
/// or a frame over <see cref="MaxFrameBytes"/>.
/// </summary>
/// <remarks>
/// For connections whose messages another WebSocket implementation reads (relay topics, pushes, the control
/// API): .NET's server socket, given an unmasked 2-byte ping, waits for the 4 mask bytes that never come, so
/// the connection hangs instead of failing. Checking the headers as the bytes pass costs a few comparisons per
/// frame and no copy. Feed it every byte read, in order, with <see cref="Check"/>.
/// </remarks>
public sealed class ClientFrameGuard
{
    private readonly byte[] _header = new byte[14];
    private int _headerFilled;
    private int _headerNeeded = 2;
    private long _payloadLeft;

    /// <summary>Creates a guard for frames of at most <paramref name="maxFrameBytes"/> payload bytes.</summary>
    public ClientFrameGuard(long maxFrameBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxFrameBytes);
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>The largest payload one frame may announce (larger is refused with 1009).</summary>
    public long MaxFrameBytes { get; }

    /// <summary>Why the stream was refused, once it was.</summary>
    public string? Error { get; private set; }

    /// <summary>The close code to send for <see cref="Error"/> (1002 protocol error, 1009 too big).</summary>
    public ushort ErrorCloseCode { get; private set; }

    /// <summary>Follows <paramref name="data"/>, the next bytes the client sent; false once a header is refused.</summary>
    public bool Check(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && Error is null)
        {
            if (_payloadLeft > 0)
            {
                var skip = (int)Math.Min(_payloadLeft, data.Length);
                _payloadLeft -= skip;
                data = data[skip..];
                continue;
            }

            var take = Math.Min(_headerNeeded - _headerFilled, data.Length);
            data[..take].CopyTo(_header.AsSpan(_headerFilled));
            _headerFilled += take;
            data = data[take..];
            if (_headerFilled == _headerNeeded)
            {
                CompleteHeaderPart();
            }
        }

        return Error is null;
    }

    private void CompleteHeaderPart()
    {
        var lengthCode = _header[1] & 0x7F;
        var extended = lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0;
        if (_headerNeeded == 2)
        {
            var opcode = _header[0] & 0x0F;
            if ((_header[1] & 0x80) == 0)
            {
                Fail("client frames must be masked", 1002);
            }
            else if ((_header[0] & 0x70) != 0)
            {
                Fail("reserved bits set without a negotiated extension", 1002);
            }
            else if (opcode is > 0x2 and < 0x8 or > 0xA)
            {
                Fail($"unknown opcode {opcode}", 1002);
            }
            else if (opcode >= 0x8 && (lengthCode > 125 || (_header[0] & 0x80) == 0))
            {
                Fail("control frames must be unfragmented and at most 125 bytes", 1002);
            }
            else
            {
                _headerNeeded = 2 + extended + 4;
            }

            return;
        }

        var length = extended switch
        {
            0 => lengthCode,
            2 => BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2)),
            _ => (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)), long.MaxValue),
        };
        if (length > MaxFrameBytes)
        {
            Fail($"a frame of {length} bytes is over the {MaxFrameBytes}-byte limit", 1009);
            return;
        }

        _payloadLeft = length;
        _headerFilled = 0;
        _headerNeeded = 2;
    }

    private void Fail(string error, ushort closeCode)
    {
        Error = error;
        ErrorCloseCode = closeCode;
    }
}
