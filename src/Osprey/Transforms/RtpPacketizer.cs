using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.Rtp;

namespace Osprey.Transforms;

/// <summary>
/// An H.264 feed as RTP packets, made once for every WebRTC viewer of the feed: each access unit is packetized
/// (RFC 6184 mode 1, 1200-byte packets, SPS/PPS before every IDR) into one frame holding its packets back to
/// back, with one SSRC, one run of sequence numbers and 90 kHz timestamps from the capture clock. A viewer only
/// copies a packet, rewrites its payload type (and its own sequence numbers), protects it with SRTP and sends it.
/// </summary>
/// <remarks>
/// <para>The last <see cref="HistoryPackets"/> packets stay in a history that answers every viewer's NACKs
/// (<see cref="TryCopyPacket"/>): it holds references to the frames, so nothing is copied to keep it.</para>
/// <para>Reads its source in order, so a viewer's packets never have a hole in the middle of a group of
/// pictures; the output keeps its current group, so a new viewer starts at once from the latest key frame.</para>
/// </remarks>
public sealed class RtpPacketizer : LazyFeed
{
    /// <summary>How many recent packets answer NACKs (pion's responder keeps 1024 too).</summary>
    public const int HistoryPackets = 1024;

    private const int MaxHistoryFrames = 512;

    private readonly H264Packetizer _packetizer;
    private readonly Lock _historyLock = new();
    private readonly Queue<(Frame Frame, ushort First, int Count)> _history = new();
    private int _historyPackets;
    private readonly uint _timestampBase;
    private long _firstCapture;
    private uint _lastTimestamp;
    private long _accessUnits;
    private long _packets;
    private long _bytes;

    /// <summary>Creates the packetizer of <paramref name="source"/> (an H.264 feed).</summary>
    public RtpPacketizer(Feed source, ILogger logger)
        : base(source, new Feed(source?.Name ?? "") { SourceUri = source?.SourceUri, KeepGroupOfPictures = true }, logger)
    {
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        _packetizer = new H264Packetizer(BitConverter.ToUInt32(random) | 1, BitConverter.ToUInt16(random[4..]));
        _timestampBase = BitConverter.ToUInt32(random[6..]);
    }

    /// <summary>The SSRC of the video every viewer of this feed gets.</summary>
    public uint Ssrc => _packetizer.Ssrc;

    /// <summary>The profile-level-id of the stream's SPS (e.g. <c>42c01e</c>), null before the first SPS.</summary>
    public string? ProfileLevelId => _packetizer.ParameterSets.Info is { } info ? $"{info.ProfileIdc:x2}{info.ConstraintFlags:x2}{info.LevelIdc:x2}" : null;

    /// <summary>Counters the WebRTC viewers of this feed add to (shown with this part in <c>/api/feeds</c>).</summary>
    public WebRtcCounters Sessions { get; } = new();

    /// <summary>Counters the RTSP readers of this feed add to (shown with this part, <c>rtsp</c>-prefixed).</summary>
    public RtspCounters RtspReaders { get; } = new();

    /// <summary>The latest SPS (NAL unit, no start code) packetized; empty before the first. The array is replaced, never changed, so a reader on another thread sees a whole one.</summary>
    public ReadOnlyMemory<byte> Sps => _packetizer.ParameterSets.Sps;

    /// <summary>The latest PPS, as <see cref="Sps"/>.</summary>
    public ReadOnlyMemory<byte> Pps => _packetizer.ParameterSets.Pps;

    /// <summary>Access units packetized (once each, whatever the number of viewers).</summary>
    public long AccessUnits => Interlocked.Read(ref _accessUnits);

    /// <inheritdoc />
    public override string PartName => "webrtc";

    /// <summary>The RTP timestamp (90 kHz, this feed's timeline) of the monotonic time <paramref name="stopwatchTimestamp"/>, for sender reports.</summary>
    public uint TimestampAt(long stopwatchTimestamp)
    {
        var first = Interlocked.Read(ref _firstCapture);
        if (first == 0)
        {
            return _timestampBase;
        }

        return unchecked(_timestampBase + (uint)(long)(Stopwatch.GetElapsedTime(first, stopwatchTimestamp).TotalSeconds * 90000));
    }

    /// <summary>
    /// Copies the packet with sequence number <paramref name="sequence"/> from the history into
    /// <paramref name="destination"/>; false when it is too old (or was never sent).
    /// </summary>
    public bool TryCopyPacket(ushort sequence, Span<byte> destination, out int length)
    {
        lock (_historyLock)
        {
            foreach (var (frame, first, count) in _history)
            {
                var offset = (ushort)(sequence - first);
                if (offset >= count)
                {
                    continue;
                }

                var index = 0;
                foreach (var packet in new RtpPacketRun(frame.Span))
                {
                    if (index++ == offset)
                    {
                        if (packet.Length > destination.Length)
                        {
                            break;
                        }

                        packet.CopyTo(destination);
                        length = packet.Length;
                        return true;
                    }
                }

                break;
            }
        }

        length = 0;
        return false;
    }

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["accessUnits"] = AccessUnits;
        counters["packets"] = Interlocked.Read(ref _packets);
        counters["bytes"] = Interlocked.Read(ref _bytes);
        Sessions.AddTo(counters);
        RtspReaders.AddTo(counters);
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        using var reader = Source.OpenOrderedReader(capacity: 120);
        using var registration = cancellationToken.UnsafeRegister(static r => ((OrderedFeedReader)r!).Close(), reader);
        Output.Info = Source.Info with { Format = MediaFormat.RtpH264 };
        while (await reader.WaitAsync())
        {
            while (reader.TryDequeue(out var input))
            {
                using var lease = new FrameLease(input);
                Packetize(input);
            }
        }
    }

    /// <inheritdoc />
    protected override void OnStopping()
    {
        lock (_historyLock)
        {
            while (_history.TryDequeue(out var entry))
            {
                entry.Frame.Release();
            }

            _historyPackets = 0;
        }
    }

    private void Packetize(Frame input)
    {
        var capture = input.CaptureTimestamp != 0 ? input.CaptureTimestamp : Stopwatch.GetTimestamp();
        if (Interlocked.Read(ref _firstCapture) == 0)
        {
            Interlocked.Exchange(ref _firstCapture, capture);
        }

        // 90 kHz from the capture clock; never backwards, never two access units on one timestamp.
        var timestamp = TimestampAt(capture);
        if (_accessUnits > 0 && (int)(timestamp - _lastTimestamp) <= 0)
        {
            timestamp = _lastTimestamp + 1;
        }

        _lastTimestamp = timestamp;
        var size = _packetizer.MeasureRun(input.Span);
        var output = Output.Pool.Rent(size);
        var first = _packetizer.NextSequence;
        var written = _packetizer.Packetize(input.Span, timestamp, input.IsKeyFrame, output.GetWritableSpan(size), out var count);
        output.SetLength(written);
        if (count == 0)
        {
            output.Release();
            return;
        }

        output.StampFrom(input, MediaFormat.RtpH264, Source.Info.Width, Source.Info.Height, input.IsKeyFrame);
        output.AddReference(); // the history's
        lock (_historyLock)
        {
            _history.Enqueue((output, first, count));
            _historyPackets += count;
            while (_history.Count > MaxHistoryFrames || (_historyPackets - _history.Peek().Count >= HistoryPackets && _history.Count > 1))
            {
                var old = _history.Dequeue();
                _historyPackets -= old.Count;
                old.Frame.Release();
            }
        }

        Interlocked.Increment(ref _accessUnits);
        Interlocked.Add(ref _packets, count);
        Interlocked.Add(ref _bytes, written);
        UnderLifecycleLock(output, Output.Publish);
    }
}

/// <summary>What the WebRTC viewers of one feed did, summed over them (Interlocked counters).</summary>
public sealed class WebRtcCounters
{
    private long _sessions;
    private long _sessionsNow;
    private long _handshakeFailures;
    private long _packets;
    private long _bytes;
    private long _nacksReceived;
    private long _nackedPackets;
    private long _retransmissions;
    private long _nacksUnanswered;
    private long _plis;
    private long _firs;
    private long _keyFramesForced;
    private long _keyFrameRestarts;
    private long _skips;
    private long _consentFailures;

    /// <summary>Sessions connected now.</summary>
    public long SessionsNow => Interlocked.Read(ref _sessionsNow);

    /// <summary>Retransmissions sent for NACKs.</summary>
    public long Retransmissions => Interlocked.Read(ref _retransmissions);

    /// <summary>Packets NACKed by viewers.</summary>
    public long NackedPackets => Interlocked.Read(ref _nackedPackets);

    /// <summary>Counts a session that completed DTLS and began sending.</summary>
    public void SessionStarted()
    {
        Interlocked.Increment(ref _sessions);
        Interlocked.Increment(ref _sessionsNow);
    }

    /// <summary>Counts a sending session that ended.</summary>
    public void SessionEnded() => Interlocked.Decrement(ref _sessionsNow);

    /// <summary>Counts a failed handshake.</summary>
    public void HandshakeFailed() => Interlocked.Increment(ref _handshakeFailures);

    /// <summary>Counts packets sent (first transmissions).</summary>
    public void Sent(long packets, long bytes)
    {
        Interlocked.Add(ref _packets, packets);
        Interlocked.Add(ref _bytes, bytes);
    }

    /// <summary>Counts one NACK message naming <paramref name="packets"/> packets.</summary>
    public void NackReceived(int packets)
    {
        Interlocked.Increment(ref _nacksReceived);
        Interlocked.Add(ref _nackedPackets, packets);
    }

    /// <summary>Counts a packet sent again for a NACK.</summary>
    public void Retransmitted() => Interlocked.Increment(ref _retransmissions);

    /// <summary>Counts a NACKed packet no longer in the history.</summary>
    public void NackUnanswered() => Interlocked.Increment(ref _nacksUnanswered);

    /// <summary>Counts a PLI (or, with <paramref name="fir"/>, a FIR).</summary>
    public void PictureLoss(bool fir)
    {
        if (fir)
        {
            Interlocked.Increment(ref _firs);
        }
        else
        {
            Interlocked.Increment(ref _plis);
        }
    }

    /// <summary>Counts a key frame forced from the encoder for a viewer.</summary>
    public void KeyFrameForced() => Interlocked.Increment(ref _keyFramesForced);

    /// <summary>Counts a viewer restarted from the cached key frame (a PLI on a feed Osprey does not encode).</summary>
    public void RestartedAtKeyFrame() => Interlocked.Increment(ref _keyFrameRestarts);

    /// <summary>Counts a viewer that fell behind and skipped to the next key frame.</summary>
    public void Skipped() => Interlocked.Increment(ref _skips);

    /// <summary>Counts a session ended because consent lapsed (RFC 7675).</summary>
    public void ConsentFailed() => Interlocked.Increment(ref _consentFailures);

    internal void AddTo(Dictionary<string, long> counters)
    {
        counters["sessions"] = Interlocked.Read(ref _sessions);
        counters["sessionsNow"] = SessionsNow;
        counters["handshakeFailures"] = Interlocked.Read(ref _handshakeFailures);
        counters["packetsSent"] = Interlocked.Read(ref _packets);
        counters["bytesSent"] = Interlocked.Read(ref _bytes);
        counters["nacksReceived"] = Interlocked.Read(ref _nacksReceived);
        counters["nackedPackets"] = NackedPackets;
        counters["retransmissions"] = Retransmissions;
        counters["nacksUnanswered"] = Interlocked.Read(ref _nacksUnanswered);
        counters["plis"] = Interlocked.Read(ref _plis);
        counters["firs"] = Interlocked.Read(ref _firs);
        counters["keyFramesForced"] = Interlocked.Read(ref _keyFramesForced);
        counters["keyFrameRestarts"] = Interlocked.Read(ref _keyFrameRestarts);
        counters["skips"] = Interlocked.Read(ref _skips);
        counters["consentFailures"] = Interlocked.Read(ref _consentFailures);
    }
}

/// <summary>What the RTSP readers of one feed did, summed over them (Interlocked counters).</summary>
public sealed class RtspCounters
{
    private long _sessions;
    private long _sessionsNow;
    private long _packets;
    private long _bytes;
    private long _skips;
    private long _dropped;

    /// <summary>Readers playing now.</summary>
    public long SessionsNow => Interlocked.Read(ref _sessionsNow);

    /// <summary>Times a reader fell behind and skipped to the next key frame.</summary>
    public long Skips => Interlocked.Read(ref _skips);

    /// <summary>Counts a reader that began playing.</summary>
    public void Started()
    {
        Interlocked.Increment(ref _sessions);
        Interlocked.Increment(ref _sessionsNow);
    }

    /// <summary>Counts a playing reader that ended.</summary>
    public void Ended() => Interlocked.Decrement(ref _sessionsNow);

    /// <summary>Counts packets sent.</summary>
    public void Sent(long packets, long bytes)
    {
        Interlocked.Add(ref _packets, packets);
        Interlocked.Add(ref _bytes, bytes);
    }

    /// <summary>Counts a reader that fell behind and skipped to the next key frame.</summary>
    public void Skipped() => Interlocked.Increment(ref _skips);

    /// <summary>Counts a reader dropped because its send stalled past the send timeout.</summary>
    public void Dropped() => Interlocked.Increment(ref _dropped);

    internal void AddTo(Dictionary<string, long> counters)
    {
        counters["rtspSessions"] = Interlocked.Read(ref _sessions);
        counters["rtspSessionsNow"] = SessionsNow;
        counters["rtspPacketsSent"] = Interlocked.Read(ref _packets);
        counters["rtspBytesSent"] = Interlocked.Read(ref _bytes);
        counters["rtspSkips"] = Skips;
        counters["rtspDropped"] = Interlocked.Read(ref _dropped);
    }
}
