using Osprey.Protocols.OpenMv;

namespace Osprey.Sources.OpenMv;

/// <summary>The lockstep on the link: one request, its reply (or a re-SYNC), the events and ACKs in between.</summary>
internal sealed partial class OpenMvHostSession
{
    private static void Expect(in OpenMvReceived received, OpenMvReceiveKind kind, string what)
    {
        if (received.Kind != kind)
        {
            throw new OpenMvLinkException($"{what}: {received.Kind}{(received.Kind == OpenMvReceiveKind.Nak ? " " + received.Status : "")}");
        }
    }

    /// <summary>Sends a request and waits for its whole reply (ACK, NAK or data), retrying as the remarks say.</summary>
    private OpenMvReceived Transact(byte channel, OpenMvOpcode opcode, ReadOnlySpan<byte> payload, CancellationToken cancellationToken, int maxReplyBytes = OpenMvProtocol.MaxPayload)
    {
        for (var attempt = 0; attempt <= Retries; attempt++)
        {
            _tx.Clear();
            _link.WriteRequest(_tx, channel, opcode, payload, maxReplyBytes);
            _transport.Send(_tx.WrittenSpan);
            _stats.AddRequest(attempt > 0);
            var deadline = _time.GetTimestamp() + Ticks(_options.RequestTimeout);
            var resend = false;
            while (!resend && TryReceive(ref deadline, cancellationToken, out var received))
            {
                switch (received.Kind)
                {
                    case OpenMvReceiveKind.Ack or OpenMvReceiveKind.Data:
                        return received;
                    case OpenMvReceiveKind.Nak when received.Status == OpenMvStatus.Checksum:
                        resend = true; // Our request arrived damaged; the NAK advanced the sequence.
                        break;
                    case OpenMvReceiveKind.Nak when received.Status == OpenMvStatus.Sequence:
                        throw new OpenMvLinkException($"{opcode}: NAK SEQUENCE");
                    case OpenMvReceiveKind.Nak:
                        return received;
                    case OpenMvReceiveKind.Fragment:
                        deadline = _time.GetTimestamp() + Ticks(_options.RequestTimeout);
                        break;
                    case OpenMvReceiveKind.Duplicate:
                        // Our ACK was lost and the device sent its packet again; the re-ACK went out in TryReceive.
                        // The firmware keeps a request that arrived while it waited for that ACK in its buffer and
                        // answers it next, so sending the request again would draw NAK SEQUENCE: wait instead.
                        deadline = _time.GetTimestamp() + Ticks(_options.RequestTimeout);
                        break;
                    case OpenMvReceiveKind.OutOfSequence when received.Status == OpenMvStatus.Sequence:
                        throw new OpenMvLinkException($"{opcode}: NAK SEQUENCE out of lockstep");
                    case OpenMvReceiveKind.Oversized:
                        throw new OpenMvLinkException($"{opcode}: the reply grew past the {maxReplyBytes} bytes asked for");
                }
            }

            if (!resend)
            {
                _stats.AddTimeout();
            }
        }

        throw new OpenMvLinkException($"{opcode}: no reply after {Retries + 1} tries");
    }

    private void WaitForFrameReady(CancellationToken cancellationToken)
    {
        // A lost event must not stall the stream: after a while, LOCK anyway (BUSY means there is no frame).
        var deadline = _time.GetTimestamp() + Ticks(s_eventWait);
        while (!_frameReady && TryReceive(ref deadline, cancellationToken, out _))
        {
        }
    }

    /// <summary>
    /// Receives the next meaningful packet before <paramref name="deadline"/>; false on timeout. A packet whose
    /// payload arrived damaged moves the deadline on by a request timeout, because the device sends it again.
    /// </summary>
    /// <exception cref="OpenMvLinkException">The camera said it soft-rebooted: its protocol state is new.</exception>
    private bool TryReceive(ref long deadline, CancellationToken cancellationToken, out OpenMvReceived received)
    {
        while (true)
        {
            var result = _decoder.TryDecode(out var header, out var payload);
            if (result == OpenMvDecodeResult.Packet)
            {
                _acks.Clear();
                received = _link.OnPacket(header, payload, _acks);
                FlushAcks();
                if (received.Kind == OpenMvReceiveKind.Event)
                {
                    OnEvent(received);
                }

                return true;
            }

            if (result == OpenMvDecodeResult.CorruptPayload)
            {
                // Not NAKed, as the reference host does not: a NAK makes the firmware retransmit at once and, as
                // it keeps the failed status, burn its three retries in a row and reset. Silence gets the packet
                // again after the firmware's 500 ms retransmit timeout.
                _stats.AddPayloadCrcError();
                deadline = Math.Max(deadline, _time.GetTimestamp() + Ticks(_options.RequestTimeout));
                continue;
            }

            cancellationToken.ThrowIfCancellationRequested();
            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero)
            {
                received = default;
                return false;
            }

            // At most 100 ms per wait, so cancellation is seen promptly.
            var wait = (int)Math.Clamp(Math.Ceiling(remaining.TotalMilliseconds), 1, 100);
            var memory = _decoder.GetMemory();
            var read = _transport.Receive(memory.Span, wait);
            _decoder.Advance(read);
        }
    }

    private void OnEvent(in OpenMvReceived received)
    {
        if (received.Header.Channel == _frameChannel)
        {
            _frameReady = true;
        }
        else if (_synced && received.Header.Channel == 0 && received.Header.Opcode == OpenMvOpcode.SysEvent && received.EventValue == OpenMvProtocol.EventSoftReboot)
        {
            // A script started or stopped: the camera's protocol state, its stream setting and its script's channels
            // are new. Re-sync now rather than learn it from a NAK SEQUENCE on the next request.
            _stats.AddSoftReboot();
            throw new OpenMvLinkException("the camera soft-rebooted (a script started or stopped)");
        }
    }

    private void FlushAcks()
    {
        if (_acks.WrittenCount > 0)
        {
            _transport.Send(_acks.WrittenSpan);
        }
    }
}
