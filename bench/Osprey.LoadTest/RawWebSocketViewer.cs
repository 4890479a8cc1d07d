using System.Buffers.Binary;
using System.Net.Sockets;

namespace Osprey.LoadTest;

/// <summary>
/// A WebSocket viewer of raw frames (<see cref="StreamMode.Raw"/>) or JPEGs (<see cref="StreamMode.Jpeg"/>),
/// one per binary message, read without assembling them.
/// </summary>
/// <remarks>
/// Per message the viewer copies only the WebSocket header, the probe (raw: the 32-byte header; JPEG: SOI, the
/// COM segment head and the 32-byte header) and the tail (raw: the 4-byte counter; JPEG: the 2-byte EOI) into
/// its small buffer; the bulk of the payload is dropped by <see cref="PayloadDiscarder"/>.
/// </remarks>
internal sealed class RawWebSocketViewer : WebSocketViewer
{
    private readonly bool _jpeg;
    private readonly int _prefixSize;
    private readonly int _tailSize;
    private readonly int _headerReadAhead;

    public RawWebSocketViewer(int id, bool stalled, bool jpeg, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window)
        : base(id, stalled, latencyCapacity, sizeCapacity, discarder, window)
    {
        _jpeg = jpeg;
        _prefixSize = jpeg ? JpegProbePrefix.Length + ProbeSize : ProbeSize;
        _tailSize = jpeg ? 2 : 4;
        _headerReadAhead = MaxHeaderSize + _prefixSize;
    }

    public override string? TransportDetail => Connected ? (_jpeg ? "WebSocket, one JPEG per binary message" : "WebSocket, one raw frame per binary message") : null;

    protected override async Task ReadFramesAsync(Socket socket, CancellationToken ct)
    {
        // The frame path lives in this one method and awaits only the socket's own reusable ValueTasks, so its
        // state machine is allocated once per viewer rather than once per suspended helper call.
        // Bounded in time by ct (cancelled when the window ends); every pass consumes one message.
        var prefixSize = _prefixSize;
        var tailSize = _tailSize;
        while (!ct.IsCancellationRequested)
        {
            while (Buffered < 2)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(_headerReadAhead), SocketFlags.None, ct));
            }

            var headerLength = HeaderLength();
            while (Buffered < headerLength)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(_headerReadAhead), SocketFlags.None, ct));
            }

            var (opcode, fin, payloadLength) = ConsumeHeader(headerLength);
            if (opcode != 0x2 || !fin || payloadLength < prefixSize + tailSize)
            {
                if (!await HandleOtherMessageAsync(opcode, fin, payloadLength, ct))
                {
                    return;
                }

                continue;
            }

            while (Buffered < prefixSize)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(prefixSize), SocketFlags.None, ct));
            }

            var probeOk = ConsumeProbe(payloadLength);
            var bulk = ConsumeBuffered(payloadLength - prefixSize - tailSize);
            while (bulk > 0)
            {
                bulk -= Discarded(await Discarder.DiscardAsync(socket, bulk, ct));
            }

            // Read ahead past the tail: when the next frame is already queued its header comes in the same call.
            while (Buffered < tailSize)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(tailSize + _headerReadAhead), SocketFlags.None, ct));
            }

            CompleteFrame(payloadLength, probeOk, ConsumeTail(payloadLength));
        }
    }

    /// <summary>Reads the buffered probe; true when it can be trusted (for raw frames that includes the declared size).</summary>
    private bool ConsumeProbe(long payloadLength)
    {
        var prefix = Peek(_prefixSize);
        Advance(_prefixSize);
        if (_jpeg)
        {
            // A JPEG's declared size is checked with the tail: a mismatch makes it torn, not unprobed.
            return ReadJpegProbe(prefix);
        }

        ReadProbe(prefix);
        return ProbeDeclaredSize == payloadLength;
    }

    /// <summary>Consumes the buffered tail; true when the message is whole.</summary>
    private bool ConsumeTail(long payloadLength)
    {
        var tail = Peek(_tailSize);
        Advance(_tailSize);
        return _jpeg
            ? tail[0] == 0xFF && tail[1] == 0xD9 && ProbeDeclaredSize == payloadLength
            : BinaryPrimitives.ReadUInt32LittleEndian(tail) == ProbeCounter;
    }
}
