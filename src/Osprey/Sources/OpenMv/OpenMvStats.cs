namespace Osprey.Sources.OpenMv;

/// <summary>
/// Counters of an OpenMV source over all its connections, for the API. Written by the source's session thread,
/// read by anyone.
/// </summary>
public sealed class OpenMvStats
{
    private long _frames;
    private long _frameBytes;
    private long _badFrames;
    private long _requests;
    private long _requestRetransmits;
    private long _retransmitsReceived;
    private long _duplicates;
    private long _headerCrcErrors;
    private long _payloadCrcErrors;
    private long _naks;
    private long _busy;
    private long _timeouts;
    private long _resyncs;
    private long _softReboots;
    private long _connects;
    private long _sequenceErrors;
    private long _events;
    private long _acksSent;
    private long _garbageBytes;
    private string _link = "connecting";
    private string? _device;
    private int _maxPayload;
    private string? _streamControl;

    /// <summary>The link's state: <c>connecting</c>, <c>streaming</c> or <c>lost</c>.</summary>
    public string Link => Volatile.Read(ref _link);

    /// <summary>What the camera said it is (protocol and firmware versions), once connected.</summary>
    public string? Device => Volatile.Read(ref _device);

    /// <summary>The max payload negotiated with SET_CAPS.</summary>
    public int MaxPayload => Volatile.Read(ref _maxPayload);

    /// <summary>Frames published.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Stream-channel bytes read for published frames.</summary>
    public long FrameBytes => Interlocked.Read(ref _frameBytes);

    /// <summary>Frames read whole but unusable (bad header, not a JPEG): skipped.</summary>
    public long BadFrames => Interlocked.Read(ref _badFrames);

    /// <summary>Requests sent (each is one round trip), retries included.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests sent again after a timeout, a checksum NAK or a duplicate.</summary>
    public long RequestRetransmits => Interlocked.Read(ref _requestRetransmits);

    /// <summary>Packets the camera retransmitted (RTX) because an ACK or a packet was lost.</summary>
    public long RetransmitsReceived => Interlocked.Read(ref _retransmitsReceived);

    /// <summary>Retransmissions of packets already taken: re-ACKed and dropped.</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Headers rejected for their CRC-16.</summary>
    public long HeaderCrcErrors => Interlocked.Read(ref _headerCrcErrors);

    /// <summary>Packets dropped for their payload CRC-32.</summary>
    public long PayloadCrcErrors => Interlocked.Read(ref _payloadCrcErrors);

    /// <summary>NAKs received, the BUSY answers to LOCK included (see <see cref="Busy"/>).</summary>
    public long Naks => Interlocked.Read(ref _naks);

    /// <summary>LOCKs answered BUSY (no frame ready yet).</summary>
    public long Busy => Interlocked.Read(ref _busy);

    /// <summary>Requests that got no reply in time.</summary>
    public long Timeouts => Interlocked.Read(ref _timeouts);

    /// <summary>Re-SYNCs after the link lost lockstep.</summary>
    public long Resyncs => Interlocked.Read(ref _resyncs);

    /// <summary>SOFT_REBOOT events the camera sent (each re-SYNCs the link).</summary>
    public long SoftReboots => Interlocked.Read(ref _softReboots);

    /// <summary>Connections made (1 + reconnects).</summary>
    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Packets dropped for being out of lockstep.</summary>
    public long SequenceErrors => Interlocked.Read(ref _sequenceErrors);

    /// <summary>Events received.</summary>
    public long Events => Interlocked.Read(ref _events);

    /// <summary>ACKs sent.</summary>
    public long AcksSent => Interlocked.Read(ref _acksSent);

    /// <summary>Bytes skipped while resynchronising on the byte stream.</summary>
    public long GarbageBytes => Interlocked.Read(ref _garbageBytes);

    /// <summary>What the camera said to STREAM_CTRL(1) after the last (re)sync: <c>enabled</c> or why not.</summary>
    public string? StreamControl => Volatile.Read(ref _streamControl);

    internal void SetLink(string link) => Volatile.Write(ref _link, link);

    internal void SetStreamControl(string state) => Volatile.Write(ref _streamControl, state);

    internal void SetDevice(string device, int maxPayload)
    {
        Volatile.Write(ref _device, device);
        Volatile.Write(ref _maxPayload, maxPayload);
    }

    internal void AddFrame(long bytes)
    {
        Interlocked.Increment(ref _frames);
        Interlocked.Add(ref _frameBytes, bytes);
    }

    internal void AddBadFrame() => Interlocked.Increment(ref _badFrames);

    internal void AddRequest(bool retransmit)
    {
        Interlocked.Increment(ref _requests);
        if (retransmit)
        {
            Interlocked.Increment(ref _requestRetransmits);
        }
    }

    internal void AddBusy() => Interlocked.Increment(ref _busy);

    internal void AddTimeout() => Interlocked.Increment(ref _timeouts);

    internal void AddResync() => Interlocked.Increment(ref _resyncs);

    internal void AddSoftReboot() => Interlocked.Increment(ref _softReboots);

    internal void AddConnect() => Interlocked.Increment(ref _connects);

    internal void AddPayloadCrcError() => Interlocked.Increment(ref _payloadCrcErrors);

    /// <summary>Adds what a session's decoder and link counted since the last call.</summary>
    internal void AddDeltas(long headerCrc, long garbage, long rtx, long duplicates, long sequenceErrors, long naks, long events, long acks)
    {
        Interlocked.Add(ref _headerCrcErrors, headerCrc);
        Interlocked.Add(ref _garbageBytes, garbage);
        Interlocked.Add(ref _retransmitsReceived, rtx);
        Interlocked.Add(ref _duplicates, duplicates);
        Interlocked.Add(ref _sequenceErrors, sequenceErrors);
        Interlocked.Add(ref _naks, naks);
        Interlocked.Add(ref _events, events);
        Interlocked.Add(ref _acksSent, acks);
    }
}
