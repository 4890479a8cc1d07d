using System.Buffers;
using System.Buffers.Binary;

namespace Osprey.Protocols.OpenMv;

/// <summary>What a received packet meant to the host.</summary>
public enum OpenMvReceiveKind
{
    /// <summary>An event (<see cref="OpenMvReceived.EventValue"/> on <see cref="OpenMvReceived.Header"/>'s channel).</summary>
    Event,

    /// <summary>A success status for the pending request.</summary>
    Ack,

    /// <summary>A failure status for the pending request (<see cref="OpenMvReceived.Status"/>).</summary>
    Nak,

    /// <summary>A fragment of the reply; more follow.</summary>
    Fragment,

    /// <summary>The whole reply is in <see cref="OpenMvHostLink.Reply"/>.</summary>
    Data,

    /// <summary>A retransmission of a packet already taken (its ACK was lost): re-ACKed and dropped.</summary>
    Duplicate,

    /// <summary>A packet out of lockstep (wrong sequence or opcode): dropped. A NAK's status is still reported.</summary>
    OutOfSequence,

    /// <summary>
    /// The reply grew past what was asked for (a camera sending fragments without end): refused, so that a
    /// broken or hostile device cannot make the host hold more than one request's worth of bytes.
    /// </summary>
    Oversized,
}

/// <summary>The meaning of one received packet.</summary>
public readonly record struct OpenMvReceived(OpenMvReceiveKind Kind, OpenMvPacketHeader Header, OpenMvStatus Status, ushort EventValue);

/// <summary>
/// The host's side of OpenMV protocol V2's reliability layer, as pure code: sequence lockstep, ACKs of device
/// packets that ask for them, duplicate (RTX) detection, fragment reassembly and events. Requests and ACKs are
/// written to a buffer writer; the caller owns the transport.
/// </summary>
/// <remarks>
/// <para>Lockstep (openmv/openmv <c>omv_protocol.c</c>, openmv-python <c>transport.py</c>): the host sends a request
/// with its current sequence; the device replies with the same sequence and increments after every non-event
/// packet it sends; the host increments after every non-event packet it takes. Host ACKs reuse the acked packet's
/// sequence and opcode and advance nothing. SYNC resets both sides to 0. A packet flagged RTX whose sequence is
/// not the expected one was taken before (its ACK was lost): it is ACKed again and dropped.</para>
/// <para>Not thread-safe: one session owns it.</para>
/// </remarks>
public sealed class OpenMvHostLink
{
    private readonly ArrayBufferWriter<byte> _reply = new(OpenMvProtocol.MaxBufferSize);
    private OpenMvOpcode _pending;
    private int _maxReplyBytes = OpenMvProtocol.MaxPayload;

    /// <summary>The sequence of the next request and of the next device packet expected.</summary>
    public byte Sequence { get; private set; }

    /// <summary>The reply reassembled so far (the whole reply after <see cref="OpenMvReceiveKind.Data"/>).</summary>
    public ReadOnlySpan<byte> Reply => _reply.WrittenSpan;

    /// <summary>Retransmitted packets received (RTX), duplicates included.</summary>
    public long RetransmitsReceived { get; private set; }

    /// <summary>Duplicates re-ACKed and dropped.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Packets dropped for being out of lockstep.</summary>
    public long SequenceErrors { get; private set; }

    /// <summary>NAKs received.</summary>
    public long Naks { get; private set; }

    /// <summary>Events received.</summary>
    public long Events { get; private set; }

    /// <summary>ACKs written.</summary>
    public long AcksSent { get; private set; }

    /// <summary>Writes SYNC (seq 0, header only) and expects its ACK at seq 0.</summary>
    public int WriteSync(IBufferWriter<byte> output)
    {
        Sequence = 0;
        return WriteRequest(output, 0, OpenMvOpcode.ProtoSync, default);
    }

    /// <summary>
    /// Writes a request at the current sequence; it becomes the pending request whose reply is awaited. A reply
    /// longer than <paramref name="maxReplyBytes"/> (a READ's length; one packet's payload for every other
    /// request) is refused as <see cref="OpenMvReceiveKind.Oversized"/>.
    /// </summary>
    public int WriteRequest(IBufferWriter<byte> output, byte channel, OpenMvOpcode opcode, ReadOnlySpan<byte> payload, int maxReplyBytes = OpenMvProtocol.MaxPayload)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxReplyBytes);
        _pending = opcode;
        _maxReplyBytes = maxReplyBytes;
        _reply.Clear();
        return OpenMvPacketHeader.Encode(output, Sequence, channel, OpenMvFlags.None, opcode, payload);
    }

    /// <summary>Takes one packet with valid CRCs; writes an ACK to <paramref name="output"/> when the device asked for one.</summary>
    public OpenMvReceived OnPacket(in OpenMvPacketHeader header, ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        if (header.IsEvent)
        {
            // An event sent with ACK_REQ (send_event(..., wait_ack=True)) blocks the camera until it is ACKed;
            // the ACK echoes the event's own sequence and leaves the host's lockstep sequence alone.
            AckIfRequested(header, output);
            Events++;
            var value = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16LittleEndian(payload) : OpenMvProtocol.EventNotify;
            return new OpenMvReceived(OpenMvReceiveKind.Event, header, OpenMvStatus.Success, value);
        }

        var rtx = (header.Flags & OpenMvFlags.Rtx) != 0;
        if (rtx)
        {
            RetransmitsReceived++;
        }

        var status = (header.Flags & OpenMvFlags.Nak) != 0 && payload.Length >= 2
            ? (OpenMvStatus)BinaryPrimitives.ReadUInt16LittleEndian(payload)
            : OpenMvStatus.Success;
        if (header.Sequence != Sequence || header.Opcode != _pending)
        {
            if (rtx && header.Sequence != Sequence)
            {
                Duplicates++;
                AckIfRequested(header, output);
                return new OpenMvReceived(OpenMvReceiveKind.Duplicate, header, status, 0);
            }

            SequenceErrors++;
            if ((header.Flags & OpenMvFlags.Nak) != 0)
            {
                Naks++;
            }

            return new OpenMvReceived(OpenMvReceiveKind.OutOfSequence, header, status, 0);
        }

        // SYNC's ACK leaves the device at seq 0 (omv_protocol_reset after the reply).
        Sequence = _pending == OpenMvOpcode.ProtoSync ? (byte)0 : unchecked((byte)(Sequence + 1));
        AckIfRequested(header, output);
        if ((header.Flags & OpenMvFlags.Nak) != 0)
        {
            Naks++;
            return new OpenMvReceived(OpenMvReceiveKind.Nak, header, status, 0);
        }

        if ((header.Flags & OpenMvFlags.Ack) != 0)
        {
            return new OpenMvReceived(OpenMvReceiveKind.Ack, header, OpenMvStatus.Success, 0);
        }

        if (_reply.WrittenCount + payload.Length > _maxReplyBytes)
        {
            _reply.Clear();
            return new OpenMvReceived(OpenMvReceiveKind.Oversized, header, OpenMvStatus.Success, 0);
        }

        _reply.Write(payload);
        return (header.Flags & OpenMvFlags.Fragment) != 0
            ? new OpenMvReceived(OpenMvReceiveKind.Fragment, header, OpenMvStatus.Success, 0)
            : new OpenMvReceived(OpenMvReceiveKind.Data, header, OpenMvStatus.Success, 0);
    }

    private void AckIfRequested(in OpenMvPacketHeader header, IBufferWriter<byte> output)
    {
        if ((header.Flags & OpenMvFlags.AckRequired) != 0)
        {
            OpenMvPacketHeader.Encode(output, header.Sequence, header.Channel, OpenMvFlags.Ack, header.Opcode, default);
            AcksSent++;
        }
    }
}
