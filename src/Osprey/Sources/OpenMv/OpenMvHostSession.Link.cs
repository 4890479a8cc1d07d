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
            while (!resend && TryReceive(deadline, cancellationToken, out var received))
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
                        // The device was blocked waiting for the ACK we sent and dropped our request meanwhile.
                        resend = true;
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
        while (!_frameReady && TryReceive(deadline, cancellationToken, out _))
        {
        }
    }

    /// <summary>Receives the next meaningful packet before <paramref name="deadline"/>; false on timeout.</summary>
    private bool TryReceive(long deadline, CancellationToken cancellationToken, out OpenMvReceived received)
    {
        while (true)
        {
            var result = _decoder.TryDecode(out var header, out var payload);
            if (result == OpenMvDecodeResult.Packet)
            {
                _acks.Clear();
                received = _link.OnPacket(header, payload, _acks);
                FlushAcks();
                if (received.Kind == OpenMvReceiveKind.Event && header.Channel == _streamChannel)
                {
                    _frameReady = true;
                }

                return true;
            }

            if (result == OpenMvDecodeResult.CorruptPayload)
            {
                _stats.AddPayloadCrcError();
                _acks.Clear();
                _link.OnCorruptPayload(header, _acks);
                FlushAcks();
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

    private void FlushAcks()
    {
        if (_acks.WrittenCount > 0)
        {
            _transport.Send(_acks.WrittenSpan);
        }
    }
}
