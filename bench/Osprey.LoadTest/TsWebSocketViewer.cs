using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Osprey.LoadTest;

/// <summary>
/// A jsmpeg-style viewer of <c>/ws/{feed}/ts</c> (<see cref="StreamMode.Ts"/>): receives every byte of every binary
/// message, as jsmpeg's demuxer does, and checks the transport stream as it goes.
/// </summary>
/// <remarks>
/// <para><b>Order.</b> Per PID the continuity counter must step by one on each packet with payload (and stay on
/// adaptation-only ones); null packets have none. A jump is allowed only where the server skipped: it must come at
/// the PID's first packet in a message, on a packet that starts a payload unit, and the next marker must show
/// that bytes were missed in between; anything else is a continuity error. A message of nothing but tables (PAT,
/// PMT, SI), whole packets, is the server's programme header (sent first, and again when it changes): it is not
/// part of the stream's order and is counted apart.</para>
/// <para><b>Every byte.</b> Each marker (see <see cref="TsPackets.WriteMarker"/>) carries the stream offset after
/// it; the stream bytes received since the previous marker must equal the difference. Less is a skip (the bytes
/// are counted), more is an error.</para>
/// <para><b>Latency.</b> From a marker's send time (Stopwatch ticks of the publishing tool on this machine) to the
/// moment the receive that completed it returned.</para>
/// </remarks>
internal sealed class TsWebSocketViewer : WebSocketViewer
{
    /// <summary>Receive buffer: large enough for several typical messages in one receive.</summary>
    private const int TsBufferSize = 32 * 1024;

    /// <summary>PIDs tracked; a transport stream for jsmpeg has 2-5.</summary>
    private const int MaxPids = 64;

    /// <summary>Table packets held back at the start of a message while it may still be a programme header.</summary>
    private const int MaxHeldTablePackets = 32;

    /// <summary>What is kept of a held packet: the header and the adaptation field's length and flags.</summary>
    private const int HeldBytes = 6;

    private readonly uint _runId;
    private readonly byte[] _carry = new byte[TsPackets.Size];
    private readonly HashSet<int> _pmtPids = [];
    private readonly PidState[] _pids = new PidState[MaxPids];
    private readonly byte[] _held = new byte[MaxHeldTablePackets * HeldBytes];
    private int _pidCount;
    private int _carryLength;
    private long _receivedAt;

    // The message being read.
    private long _message;
    private bool _messageAligned;
    private bool _messageOnlyTables;
    private int _heldCount;
    private bool _skipToMessageEnd;

    // Byte accounting between markers.
    private long _bytesSinceMarker;
    private long _lastMarkerOffset = -1;
    private long _lastMarkerSequence;
    private int _pendingJumps;

    public TsWebSocketViewer(int id, bool stalled, uint runId, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window)
        : base(id, stalled, latencyCapacity, sizeCapacity, discarder, window, stalled ? BufferSize : TsBufferSize)
    {
        _runId = runId;
    }

    public override string? TransportDetail => Connected ? "WebSocket, MPEG-TS: programme tables, then the stream's chunks as binary messages" : null;

    /// <summary>Binary messages received over the whole run.</summary>
    public long Messages { get; private set; }

    /// <summary>Messages of tables only (the server's programme header).</summary>
    public long TableMessages { get; private set; }

    /// <summary>Messages that did not start and end on a packet boundary.</summary>
    public long UnalignedMessages { get; private set; }

    /// <summary>Stream bytes received in the window (whole packets, programme headers left out).</summary>
    public long StreamBytesInWindow { get; private set; }

    /// <summary>Stream bytes received from the first marker to the last (what was checked against the markers).</summary>
    public long CheckedBytes { get; private set; }

    /// <summary>Bytes the markers say were sent over the same stretch.</summary>
    public long ExpectedBytes { get; private set; }

    /// <summary>Bytes missed: the server skipped this viewer ahead (it was too slow).</summary>
    public long SkippedBytes { get; private set; }

    /// <summary>Stretches between two markers in which bytes were missed.</summary>
    public long Skips { get; private set; }

    /// <summary>Bytes received beyond what the markers account for (duplicated or foreign data): an error.</summary>
    public long ExcessBytes { get; private set; }

    /// <summary>Counter jumps outside a skip, or not at a message's start on a payload unit start: errors.</summary>
    public long ContinuityErrors { get; private set; }

    /// <summary>Counter jumps at a skip, where the viewer resumed at a payload unit start.</summary>
    public long Resumes { get; private set; }

    /// <summary>Packets that did not start with the sync byte (the rest of their message is dropped): errors.</summary>
    public long SyncLosses { get; private set; }

    /// <summary>Markers of this run received over the whole run.</summary>
    public long MarkersReceived { get; private set; }

    /// <summary>Markers whose sequence number did not increase: errors.</summary>
    public long MarkersOutOfOrder { get; private set; }

    /// <summary>The last marker's sequence number, 0 before the first.</summary>
    public long LastMarkerSequence => _lastMarkerSequence;

    /// <summary>True when nothing went wrong: no continuity error, sync loss, excess byte or marker out of order.</summary>
    public bool InOrder => ContinuityErrors == 0 && SyncLosses == 0 && ExcessBytes == 0 && MarkersOutOfOrder == 0;

    protected override async Task ReadFramesAsync(Socket socket, CancellationToken ct)
    {
        // As in the other viewers: one method, awaiting only the socket's reusable ValueTasks. Bounded in time by
        // ct; every pass of the outer loop consumes one message, every inner pass at least one byte of it.
        _receivedAt = Stopwatch.GetTimestamp(); // bytes that came with the handshake's answer
        while (!ct.IsCancellationRequested)
        {
            while (Buffered < 2)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(TsBufferSize), SocketFlags.None, ct));
                _receivedAt = Stopwatch.GetTimestamp();
            }

            var headerLength = HeaderLength();
            while (Buffered < headerLength)
            {
                Filled(await socket.ReceiveAsync(FreeSpace(TsBufferSize), SocketFlags.None, ct));
                _receivedAt = Stopwatch.GetTimestamp();
            }

            var (opcode, fin, payloadLength) = ConsumeHeader(headerLength);
            if (opcode != 0x2 || !fin || payloadLength == 0)
            {
                if (!await HandleOtherMessageAsync(opcode, fin, payloadLength, ct))
                {
                    return;
                }

                continue;
            }

            BeginMessage(payloadLength);
            var remaining = payloadLength;
            while (remaining > 0)
            {
                if (Buffered == 0)
                {
                    Filled(await socket.ReceiveAsync(FreeSpace(TsBufferSize), SocketFlags.None, ct));
                    _receivedAt = Stopwatch.GetTimestamp();
                }
                var take = (int)Math.Min(Buffered, remaining);
                Parse(Peek(take));
                Advance(take);
                remaining -= take;
            }

            EndMessage(payloadLength);
        }
    }

    private void BeginMessage(long length)
    {
        _message++;
        Messages++;
        _messageAligned = _carryLength == 0 && length % TsPackets.Size == 0;
        _messageOnlyTables = _messageAligned;
        _heldCount = 0;
        _skipToMessageEnd = false;
    }

    private void EndMessage(long length)
    {
        if (_messageOnlyTables)
        {
            // Tables only: the programme header. Its packets are copies, outside the stream's order.
            TableMessages++;
        }
        else
        {
            ReleaseHeld();
        }

        if (_skipToMessageEnd)
        {
            // After a lost sync, start again at the next message (chunks start on a packet).
            _carryLength = 0;
        }

        var aligned = _messageAligned && _carryLength == 0;
        if (!aligned)
        {
            UnalignedMessages++;
        }

        CompleteUnprobedFrame(length, aligned);
    }

    private void Parse(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && !_skipToMessageEnd)
        {
            if (_carryLength > 0 || data.Length < TsPackets.Size)
            {
                var take = Math.Min(TsPackets.Size - _carryLength, data.Length);
                data[..take].CopyTo(_carry.AsSpan(_carryLength));
                _carryLength += take;
                data = data[take..];
                if (_carryLength == TsPackets.Size)
                {
                    _carryLength = 0;
                    OnPacket(_carry);
                }

                continue;
            }

            OnPacket(data[..TsPackets.Size]);
            data = data[TsPackets.Size..];
        }
    }

    private void OnPacket(ReadOnlySpan<byte> packet)
    {
        if (packet[0] != TsPackets.SyncByte)
        {
            SyncLosses++;
            _skipToMessageEnd = true;
            _messageOnlyTables = false;
            ReleaseHeld();
            return;
        }

        var pid = TsPackets.Pid(packet);
        if (pid == TsPackets.PatPid)
        {
            TsPackets.ReadPatPmtPids(packet, _pmtPids);
        }

        if (_messageOnlyTables)
        {
            if ((pid <= TsPackets.LastTablePid || _pmtPids.Contains(pid)) && _heldCount < MaxHeldTablePackets)
            {
                // Maybe a header: decide at the first packet that is not a table, or at the message's end.
                packet[..HeldBytes].CopyTo(_held.AsSpan(_heldCount++ * HeldBytes));
                return;
            }

            _messageOnlyTables = false;
            ReleaseHeld();
        }

        Account(packet, pid);
    }

    /// <summary>The held table packets were stream after all: check them in order.</summary>
    private void ReleaseHeld()
    {
        var count = _heldCount;
        _heldCount = 0;
        Span<byte> packet = stackalloc byte[TsPackets.Size];
        for (var i = 0; i < count; i++)
        {
            // Only the header and the discontinuity flag matter for the counter, and tables carry no marker.
            _held.AsSpan(i * HeldBytes, HeldBytes).CopyTo(packet);
            CheckCounter(packet, TsPackets.Pid(packet));
            CountStreamBytes();
        }
    }

    private void Account(ReadOnlySpan<byte> packet, int pid)
    {
        CheckCounter(packet, pid);
        CountStreamBytes();
        if (pid == TsPackets.NullPid && TsPackets.TryReadMarker(packet, _runId, out var sequence, out var sentTicks, out var offsetAfter))
        {
            OnMarker(sequence, sentTicks, offsetAfter);
        }
    }

    private void CountStreamBytes()
    {
        _bytesSinceMarker += TsPackets.Size;
        if (Window.Contains(_receivedAt))
        {
            StreamBytesInWindow += TsPackets.Size;
        }
    }

    private void CheckCounter(ReadOnlySpan<byte> packet, int pid)
    {
        var control = TsPackets.AdaptationFieldControl(packet);
        if (pid == TsPackets.NullPid || control == 0)
        {
            return;
        }

        ref var state = ref Find(pid);
        if (Unsafe.IsNullRef(ref state))
        {
            return; // more PIDs than tracked: not a jsmpeg stream, and not checked
        }

        var counter = TsPackets.ContinuityCounter(packet);
        var firstInMessage = state.Message != _message;
        state.Message = _message;
        if (state.Counter < 0 || TsPackets.IsDiscontinuity(packet))
        {
            state.Counter = counter;
            return;
        }

        var expected = TsPackets.HasPayload(packet) ? (state.Counter + 1) & 0x0F : state.Counter;
        state.Counter = counter;
        if (counter == expected)
        {
            return;
        }

        if (firstInMessage && TsPackets.IsPayloadUnitStart(packet))
        {
            if (_runId == 0)
            {
                Resumes++; // only watching: no markers to tell whether bytes were missed, so taken as a skip
            }
            else
            {
                _pendingJumps++; // a resume after a skip, if the next marker shows bytes were missed
            }
        }
        else
        {
            ContinuityErrors++;
        }
    }

    private ref PidState Find(int pid)
    {
        for (var i = 0; i < _pidCount; i++)
        {
            if (_pids[i].Pid == pid)
            {
                return ref _pids[i];
            }
        }

        if (_pidCount == MaxPids)
        {
            return ref Unsafe.NullRef<PidState>();
        }

        _pids[_pidCount] = new PidState { Pid = pid, Counter = -1, Message = -1 };
        return ref _pids[_pidCount++];
    }

    private void OnMarker(long sequence, long sentTicks, long offsetAfter)
    {
        var now = _receivedAt;
        MarkersReceived++;
        if (Window.Contains(now))
        {
            RecordLatency((long)((now - sentTicks) * 1_000_000.0 / Stopwatch.Frequency));
        }

        if (sequence <= _lastMarkerSequence)
        {
            MarkersOutOfOrder++;
        }

        _lastMarkerSequence = Math.Max(_lastMarkerSequence, sequence);
        if (_lastMarkerOffset < 0)
        {
            // The first marker: what came before it cannot be checked, jumps included (there should be none).
            ContinuityErrors += _pendingJumps;
        }
        else
        {
            var expected = offsetAfter - _lastMarkerOffset;
            ExpectedBytes += expected;
            CheckedBytes += _bytesSinceMarker;
            if (_bytesSinceMarker < expected)
            {
                Skips++;
                SkippedBytes += expected - _bytesSinceMarker;
                Resumes += _pendingJumps;
            }
            else
            {
                ExcessBytes += _bytesSinceMarker - expected;
                ContinuityErrors += _pendingJumps; // a jump where nothing was missed
            }
        }

        _pendingJumps = 0;
        _bytesSinceMarker = 0;
        _lastMarkerOffset = offsetAfter;
    }

    private struct PidState
    {
        public int Pid;
        public int Counter;
        public long Message;
    }
}
