using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Osprey.Protocols.WebSockets;

/// <summary>
/// Incremental parser of the frames a WebSocket client sends (always masked, RFC 6455 §5.3). Viewers only
/// send control frames and the odd small message, so payloads are bounded; larger ones are a protocol error.
/// </summary>
/// <remarks>
/// <para>Feed it whatever the socket gives with <see cref="Parse"/>; it keeps state across calls.</para>
/// <para>What the RFC requires a server to fail is failed here, with the close code it names, so that every
/// user answers alike: unmasked frames, fragments out of order (1002); close frames with a 1-byte payload or
/// a code no endpoint may send (1002); text, and close reasons, that are not UTF-8 (1007), checked across
/// fragments and read boundaries.</para>
/// </remarks>
public sealed class ClientFrameParser
{
    /// <summary>The largest client payload accepted (control frames are at most 125 by the RFC).</summary>
    public const int MaxPayload = 64 * 1024;

    private readonly byte[] _header = new byte[14];
    // Sized for control frames (at most 125 bytes); grown only if a client sends a larger message, so that
    // thousands of viewers that never speak cost 128 bytes each here, not 64 KiB.
    private byte[] _payload = new byte[128];
    private int _headerFilled;
    private int _headerNeeded = 2;
    private long _payloadLength;
    private int _payloadFilled;
    private bool _inPayload;
    // A fragmented data message is in progress (its first frame had FIN clear), and whether it is text.
    private bool _inMessage;
    private bool _messageIsText;
    // The start of a UTF-8 sequence split across frames or reads, at most 3 bytes.
    private readonly byte[] _utf8Carry = new byte[4];
    private int _utf8CarryLength;

    /// <summary>Why parsing stopped, when it did.</summary>
    public string? Error { get; private set; }

    /// <summary>The close code to send for <see cref="Error"/> (1002 protocol error, 1009 too big).</summary>
    public ushort ErrorCloseCode { get; private set; }

    /// <summary>
    /// Consumes <paramref name="data"/> and calls <paramref name="onFrame"/> for each complete frame with its
    /// opcode, FIN flag and unmasked payload (valid only during the call). Returns false on a protocol error
    /// (see <see cref="Error"/>); the connection should then be closed.
    /// </summary>
    public bool Parse<TState>(ReadOnlySpan<byte> data, TState state, ClientFrameHandler<TState> onFrame)
    {
        ArgumentNullException.ThrowIfNull(onFrame);
        while (!data.IsEmpty)
        {
            if (Error is not null)
            {
                return false;
            }

            if (!_inPayload)
            {
                var take = Math.Min(_headerNeeded - _headerFilled, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFilled));
                _headerFilled += take;
                data = data[take..];
                if (_headerFilled < _headerNeeded)
                {
                    continue;
                }

                if (!TryCompleteHeader())
                {
                    if (Error is not null)
                    {
                        return false;
                    }

                    continue; // needs the extended length and mask bytes
                }
            }

            var remaining = (int)(_payloadLength - _payloadFilled);
            var chunk = Math.Min(remaining, data.Length);
            data[..chunk].CopyTo(_payload.AsSpan(_payloadFilled));
            _payloadFilled += chunk;
            data = data[chunk..];
            if (_payloadFilled == _payloadLength)
            {
                var payload = _payload.AsSpan(0, (int)_payloadLength);
                var mask = _header.AsSpan(_headerNeeded - 4, 4);
                for (var i = 0; i < payload.Length; i++)
                {
                    payload[i] ^= mask[i & 3];
                }

                var opcode = (WebSocketOpcode)(_header[0] & 0x0F);
                var fin = (_header[0] & 0x80) != 0;
                ResetFrame();
                if (!CheckPayload(opcode, fin, payload))
                {
                    return false;
                }

                if (!onFrame(state, opcode, fin, payload))
                {
                    return true; // the handler asked to stop; what follows is ignored
                }
            }
        }

        return Error is null;
    }

    private bool TryCompleteHeader()
    {
        var lengthCode = _header[1] & 0x7F;
        var masked = (_header[1] & 0x80) != 0;
        var extended = lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0;
        var needed = 2 + extended + 4;
        if (_headerNeeded < needed)
        {
            if (!masked)
            {
                return Fail("client frames must be masked", 1002);
            }

            if ((_header[0] & 0x70) != 0)
            {
                return Fail("reserved bits set without a negotiated extension", 1002);
            }

            var opcode = _header[0] & 0x0F;
            if (opcode is > 0x2 and < 0x8 or > 0xA)
            {
                return Fail($"unknown opcode {opcode}", 1002);
            }

            if (opcode >= 0x8 && (lengthCode > 125 || (_header[0] & 0x80) == 0))
            {
                return Fail("control frames must be unfragmented and at most 125 bytes", 1002);
            }

            if (opcode == 0x0 && !_inMessage)
            {
                return Fail("a continuation frame with no message to continue", 1002);
            }

            if (opcode is 0x1 or 0x2 && _inMessage)
            {
                return Fail("a new message before the fragmented one ended", 1002);
            }

            _headerNeeded = needed;
            return false;
        }

        _payloadLength = extended switch
        {
            0 => lengthCode,
            2 => BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2)),
            _ => (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)), long.MaxValue),
        };

        if (_payloadLength > MaxPayload)
        {
            return Fail($"client message of {_payloadLength} bytes is over the {MaxPayload}-byte limit", 1009);
        }

        if (_payloadLength > _payload.Length)
        {
            _payload = new byte[Math.Min(MaxPayload, Math.Max((int)_payloadLength, _payload.Length * 2))];
        }

        _payloadFilled = 0;
        _inPayload = true;
        return true;
    }

    private bool CheckPayload(WebSocketOpcode opcode, bool fin, ReadOnlySpan<byte> payload)
    {
        switch (opcode)
        {
            case WebSocketOpcode.Close:
                if (payload.Length == 1)
                {
                    return Fail("a close frame with a 1-byte payload", 1002);
                }

                if (payload.Length >= 2)
                {
                    var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
                    if (!WebSocketFrames.IsValidReceivedCloseCode(code))
                    {
                        return Fail($"close code {code} may not be sent", 1002);
                    }

                    if (!Utf8.IsValid(payload[2..]))
                    {
                        return Fail("a close reason that is not UTF-8", 1007);
                    }
                }

                return true;
            case WebSocketOpcode.Text or WebSocketOpcode.Binary:
                _messageIsText = opcode == WebSocketOpcode.Text;
                _utf8CarryLength = 0;
                break;
            case WebSocketOpcode.Continuation:
                break;
            default:
                return true; // ping, pong: any payload
        }

        _inMessage = !fin;
        if (_messageIsText && !CheckUtf8(payload, final: fin))
        {
            return Fail("a text message that is not UTF-8", 1007);
        }

        return true;
    }

    /// <summary>Checks the next piece of a text message, carrying a sequence split at its end to the next piece.</summary>
    private bool CheckUtf8(ReadOnlySpan<byte> piece, bool final)
    {
        // First finish the sequence the previous piece ended in, one byte at a time (at most 3).
        while (_utf8CarryLength > 0 && !piece.IsEmpty)
        {
            _utf8Carry[_utf8CarryLength++] = piece[0];
            piece = piece[1..];
            var status = Rune.DecodeFromUtf8(_utf8Carry.AsSpan(0, _utf8CarryLength), out _, out _);
            if (status == OperationStatus.InvalidData)
            {
                return false;
            }

            if (status == OperationStatus.Done)
            {
                _utf8CarryLength = 0;
            }
        }

        while (!piece.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(piece, out _, out var consumed);
            if (status == OperationStatus.InvalidData)
            {
                return false;
            }

            if (status == OperationStatus.NeedMoreData)
            {
                piece.CopyTo(_utf8Carry);
                _utf8CarryLength = piece.Length;
                break;
            }

            piece = piece[consumed..];
        }

        return !final || _utf8CarryLength == 0;
    }

    private bool Fail(string error, ushort closeCode)
    {
        Error = error;
        ErrorCloseCode = closeCode;
        return false;
    }

    private void ResetFrame()
    {
        _headerFilled = 0;
        _headerNeeded = 2;
        _payloadLength = 0;
        _payloadFilled = 0;
        _inPayload = false;
    }
}

/// <summary>Receives one parsed client frame; return false to stop parsing.</summary>
public delegate bool ClientFrameHandler<in TState>(TState state, WebSocketOpcode opcode, bool fin, ReadOnlySpan<byte> payload);
