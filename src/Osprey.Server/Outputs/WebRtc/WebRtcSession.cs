using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Text;
using Org.BouncyCastle.Tls;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.Rtp;
using Osprey.Protocols.Srtp;
using Osprey.Runtime;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.WebRtc;

/// <summary>
/// One WebRTC viewer: its ICE credentials, the address that passed ICE, its DTLS handshake (on a thread of its
/// own, bounded in time), its SRTP contexts, and the loop that sends it the feed's shared RTP packets.
/// </summary>
/// <remarks>
/// <para>Per packet a viewer copies the shared packet into its own buffer, writes its payload type, its own
/// sequence number (one run per viewer, so skipping to a key frame leaves no hole for the browser to NACK) and
/// timestamp, protects it and sends it: no packetizing, no per-viewer frame copy. A ring of the last 1024 sent
/// sequence numbers maps a NACK back to the shared packet in the packetizer's history.</para>
/// <para>A new viewer's reader starts with the feed's cached group of pictures; while it is behind (frames still
/// queued) the timestamps of what it sends are squeezed to 1 ms apart, so the browser shows the live picture as
/// soon as it has decoded the group instead of playing the backlog at its own pace.</para>
/// <para>Threads: the UDP receive loop calls <see cref="OnBinding"/>, <see cref="OnDtls"/> and
/// <see cref="OnRtpOrRtcp"/> (which only queue work and wake the send loop); the server's timer calls
/// <see cref="Tick"/>; the send loop alone touches the sending SRTP context.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The send loop disposes the sending context when it ends; the receiving one may still be in the UDP loop's hands and is left to its finalizer.")]
internal sealed partial class WebRtcSession
{
    private const int Idle = 0;
    private const int Handshaking = 1;
    private const int Connected = 2;
    private const int Closed = 3;
    private const int RingSize = 1024;
    private const int MaxPendingNacks = 512;

    private readonly WebRtcServer _server;
    private readonly Feed _rtpFeed;
    private readonly RtpPacketizer _packetizer;
    private readonly string? _offeredFingerprint;
    private readonly byte _payloadType;
    private readonly ILogger _logger;
    private readonly long _created = Stopwatch.GetTimestamp();
    private readonly DtlsDatagramChannel _channel;
    private readonly Lock _lock = new();
    private readonly ushort[] _ringSequence = new ushort[RingSize];
    private readonly ushort[] _ringShared = new ushort[RingSize];
    private readonly uint[] _ringTimestamp = new uint[RingSize];
    private readonly bool[] _ringValid = new bool[RingSize];
    private readonly ushort[] _nacks = new ushort[MaxPendingNacks];
    private readonly byte[] _rtcpPlain = new byte[2048];
    private int _nackCount;
    private int _state;
    private long _lastConsent;
    private SocketAddress? _remote;
    private IPEndPoint? _remoteEndPoint;
    private DtlsTransport? _dtls;
    private SrtpContext? _send;
    private SrtpContext? _receive;
    private OrderedFeedReader _reader;
    private volatile bool _srDue;
    private volatile bool _keyFrameWanted;
    private long _lastKeyFrameRestart;
    private string _remoteLabel;
    private string? _endReason;
    private long _packets;
    private long _retransmissions;
    private uint _octets;

    public WebRtcSession(WebRtcServer server, string id, Feed feed, RtpPacketizer packetizer, string ufrag, string password, string remoteUfrag, string? offeredFingerprint, int payloadType, string remote, ILogger logger)
    {
        _server = server;
        Id = id;
        Feed = feed;
        _packetizer = packetizer;
        _rtpFeed = packetizer.Output;
        Ufrag = ufrag;
        PasswordBytes = Encoding.UTF8.GetBytes(password);
        RemoteUfragBytes = Encoding.UTF8.GetBytes(remoteUfrag);
        _offeredFingerprint = offeredFingerprint;
        _payloadType = (byte)payloadType;
        _remoteLabel = remote;
        _logger = logger;
        _channel = new DtlsDatagramChannel(SendRaw);
        // Opened now: the packetizer (and a raw feed's encoder) starts while ICE and DTLS run, and the reader
        // holds the group of pictures from the latest key frame when the first packet can go.
        _reader = OpenReader();
    }

    /// <summary>The WHEP resource's id (its URL's last segment; whoever knows it may end the session).</summary>
    public string Id { get; }

    /// <summary>The feed watched.</summary>
    public Feed Feed { get; }

    /// <summary>Our ICE username fragment.</summary>
    public string Ufrag { get; }

    /// <summary>Our ICE password, the key of MESSAGE-INTEGRITY.</summary>
    public byte[] PasswordBytes { get; }

    /// <summary>The browser's ufrag (the USERNAME's second half).</summary>
    public byte[] RemoteUfragBytes { get; }

    /// <summary>True once DTLS completed and media flows.</summary>
    public bool IsConnected => Volatile.Read(ref _state) == Connected;

    /// <summary>True once ended.</summary>
    public bool IsClosed => Volatile.Read(ref _state) == Closed;

    /// <summary>Why it ended, once it has.</summary>
    public string? EndReason => _endReason;

    private WebRtcCounters Counters => _packetizer.Sessions;

    /// <summary>
    /// A binding request from <paramref name="address"/> passed its checks: consent is fresh; the first address
    /// (or one the browser nominates with USE-CANDIDATE) becomes the session's, and the DTLS handshake starts.
    /// Returns the address as an endpoint for XOR-MAPPED-ADDRESS.
    /// </summary>
    public IPEndPoint OnBinding(SocketAddress address, bool useCandidate)
    {
        var start = false;
        IPEndPoint endPoint;
        lock (_lock)
        {
            if (_remote is null || (useCandidate && !_remote.Equals(address)))
            {
                var copy = new SocketAddress(address.Family, address.Size);
                address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
                _remote = copy;
                _remoteEndPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(copy);
                _remoteLabel = _remoteEndPoint.ToString();
            }

            endPoint = _remote.Equals(address) ? _remoteEndPoint! : (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(address);
            if (_remote.Equals(address))
            {
                Volatile.Write(ref _lastConsent, Stopwatch.GetTimestamp());
            }

            if (_state == Idle)
            {
                _state = Handshaking;
                start = true;
            }
        }

        if (start)
        {
            new Thread(Handshake) { IsBackground = true, Name = "webrtc-dtls" }.Start();
        }

        return endPoint;
    }

    /// <summary>A DTLS record from the session's address.</summary>
    public void OnDtls(ReadOnlySpan<byte> datagram)
    {
        var state = Volatile.Read(ref _state);
        if (state == Handshaking)
        {
            _channel.Enqueue(datagram);
            return;
        }

        if (state != Connected || _dtls is not { } dtls)
        {
            return;
        }

        if (datagram[0] == ContentType.alert)
        {
            Close("the browser closed DTLS");
            return;
        }

        if (datagram[0] == ContentType.handshake)
        {
            // The browser did not get our last flight and sent its own again: the record layer answers it.
            _channel.Enqueue(datagram);
            try
            {
                Span<byte> scratch = stackalloc byte[64];
                _ = dtls.Receive(scratch, 1);
            }
            catch (Exception ex) when (ex is TlsException or IOException)
            {
                Close($"DTLS failed after the handshake: {ex.Message}");
            }
        }
    }

    /// <summary>An SRTP or SRTCP packet from the session's address: RTCP feedback is read, media ignored.</summary>
    public void OnRtpOrRtcp(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < 8 || datagram[1] is < 192 or > 223 || _receive is not { } receive || IsClosed)
        {
            return; // RTP from the browser (it sends none to a recvonly section) or not connected yet
        }

        if (!receive.TryUnprotectRtcp(datagram, _rtcpPlain, out var length))
        {
            return;
        }

        var wake = false;
        Span<ushort> sequences = stackalloc ushort[17 * 8];
        foreach (var packet in Rtcp.Enumerate(_rtcpPlain.AsSpan(0, length)))
        {
            if (packet.IsNack)
            {
                var count = Rtcp.ReadNackSequences(packet.Fci, sequences);
                Counters.NackReceived(count);
                lock (_lock)
                {
                    for (var i = 0; i < count && _nackCount < MaxPendingNacks; i++)
                    {
                        _nacks[_nackCount++] = sequences[i];
                    }
                }

                wake = true;
            }
            else if (packet.IsPli || packet.IsFir)
            {
                Counters.PictureLoss(packet.IsFir);
                _keyFrameWanted = true;
                wake = true;
            }
        }

        if (wake)
        {
            Volatile.Read(ref _reader).Wake();
        }
    }

    /// <summary>Once a second: the handshake's deadline, consent freshness (RFC 7675), the sender report.</summary>
    public void Tick(long now)
    {
        switch (Volatile.Read(ref _state))
        {
            case Idle or Handshaking when Stopwatch.GetElapsedTime(_created, now) > _server.Options.HandshakeTimeout:
                var reason = Volatile.Read(ref _state) == Idle
                    ? $"no ICE check arrived within {_server.Options.HandshakeTimeout.TotalSeconds:0} s (UDP port {_server.Port} unreachable from the browser?)"
                    : $"DTLS did not complete within {_server.Options.HandshakeTimeout.TotalSeconds:0} s";
                Log.HandshakeFailed(_logger, Feed.Name, _remoteLabel, reason);
                Counters.HandshakeFailed();
                Close(reason);
                break;
            case Connected when Stopwatch.GetElapsedTime(Volatile.Read(ref _lastConsent), now) > _server.Options.ConsentTimeout:
                Counters.ConsentFailed();
                Close($"consent lapsed: no ICE check for {_server.Options.ConsentTimeout.TotalSeconds:0} s");
                break;
            case Connected:
                _srDue = true;
                Volatile.Read(ref _reader).Wake();
                break;
        }
    }

    /// <summary>Ends the session (idempotent): the reader, the DTLS channel and the tables let go of it.</summary>
    public void Close(string reason)
    {
        int previous;
        lock (_lock)
        {
            previous = _state;
            if (previous == Closed)
            {
                return;
            }

            _state = Closed;
            _endReason = reason;
        }

        _channel.Close();
        Volatile.Read(ref _reader).Close();
        _server.Remove(this);
        if (previous == Connected)
        {
            Counters.SessionEnded();
            Log.Ended(_logger, Feed.Name, _remoteLabel, reason, Interlocked.Read(ref _packets), Interlocked.Read(ref _retransmissions));
        }
    }

    private OrderedFeedReader OpenReader() =>
        _rtpFeed.OpenOrderedReader(capacity: 300, maxBytes: _server.Options.MaxQueuedBytes);

    private void SendRaw(ReadOnlySpan<byte> datagram)
    {
        if (Volatile.Read(ref _remote) is { } remote)
        {
            _server.Send(datagram, remote);
        }
    }

    private void Handshake()
    {
        var server = new DtlsSrtpServer(_server.Certificate, _offeredFingerprint);
        try
        {
            var protocol = new DtlsServerProtocol();
            // No HelloVerifyRequest: BouncyCastle's cookie exchange drops a fragmented ClientHello (Firefox 148+),
            // and ICE has already proved the browser owns its address.
            var transport = protocol.Accept(server, _channel);
            var keys = server.Keys ?? throw new InvalidOperationException("the handshake completed without SRTP keys");
            _send = new SrtpContext(keys.Profile, keys.ServerKey, keys.ServerSalt);
            _receive = new SrtpContext(keys.Profile, keys.ClientKey, keys.ClientSalt);
            _dtls = transport;
            lock (_lock)
            {
                if (_state == Closed)
                {
                    return;
                }

                _state = Connected;
            }

            Counters.SessionStarted();
            Log.Connected(_logger, Feed.Name, _remoteLabel, keys.Profile.ToString(), CipherSuiteName(server));
            _ = Task.Run(SendLoopAsync);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (IsClosed)
            {
                return; // closed meanwhile (its timeout said why)
            }

            var reason = server.RefusalReason ?? ex.Message;
            Log.HandshakeFailed(_logger, Feed.Name, _remoteLabel, reason);
            Counters.HandshakeFailed();
            Close($"DTLS handshake failed: {reason}");
        }
    }

    private static string CipherSuiteName(DtlsSrtpServer server) => server.SelectedCipherSuite.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task SendLoopAsync()
    {
        var plain = GC.AllocateUninitializedArray<byte>(2048, pinned: true);
        var cipher = GC.AllocateUninitializedArray<byte>(2048 + SrtpContext.MaxRtcpOverhead, pinned: true);
        var cname = Rtcp.Cname("osprey");
        ushort sequence = (ushort)Random.Shared.Next(65536);
        uint timestamp = 0;
        uint lastShared = 0;
        var started = false;
        long skipEvents = 0;
        try
        {
            while (true)
            {
                var reader = _reader;
                if (!await reader.WaitAsync())
                {
                    if (IsClosed || reader == _reader)
                    {
                        break;
                    }

                    continue;
                }

                if (_keyFrameWanted)
                {
                    _keyFrameWanted = false;
                    RestartAtKeyFrame(reader);
                    continue;
                }

                if (_nackCount > 0)
                {
                    Retransmit(plain, cipher);
                }

                if (_srDue && started)
                {
                    _srDue = false;
                    var now = Stopwatch.GetTimestamp();
                    var rtpNow = timestamp + (_packetizer.TimestampAt(now) - lastShared);
                    var length = Rtcp.WriteSenderReport(plain, _packetizer.Ssrc, Rtcp.NtpTimestamp(DateTime.UtcNow), rtpNow, (uint)Interlocked.Read(ref _packets), _octets, cname);
                    var written = _send!.ProtectRtcp(plain.AsSpan(0, length), cipher);
                    if (written > 0)
                    {
                        SendRaw(cipher.AsSpan(0, written));
                    }
                }

                var burst = 0;
                while (reader.TryDequeue(out var frame))
                {
                    using var lease = new FrameLease(frame);
                    if (reader.SkipEvents != skipEvents)
                    {
                        Counters.Skipped();
                        skipEvents = reader.SkipEvents;
                    }

                    var behind = reader.Queued > 0;
                    var first = true;
                    var sentPackets = 0;
                    long sentBytes = 0;
                    foreach (var packet in new RtpPacketRun(frame.Span))
                    {
                        if (packet.Length < H264Packetizer.HeaderSize || packet.Length > plain.Length)
                        {
                            continue;
                        }

                        if (first)
                        {
                            var shared = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
                            if (!started)
                            {
                                timestamp = shared;
                                started = true;
                            }
                            else
                            {
                                var delta = (int)(shared - lastShared);
                                // Behind live: squeeze the backlog to 1 ms apart so the browser catches up at once.
                                delta = delta <= 0 ? 1 : behind ? Math.Min(delta, 90) : delta;
                                timestamp += (uint)delta;
                            }

                            lastShared = shared;
                            first = false;
                        }

                        packet.CopyTo(plain);
                        plain[1] = (byte)((packet[1] & 0x80) | _payloadType);
                        var viewerSequence = sequence++;
                        BinaryPrimitives.WriteUInt16BigEndian(plain.AsSpan(2), viewerSequence);
                        BinaryPrimitives.WriteUInt32BigEndian(plain.AsSpan(4), timestamp);
                        var slot = viewerSequence & (RingSize - 1);
                        _ringSequence[slot] = viewerSequence;
                        _ringShared[slot] = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
                        _ringTimestamp[slot] = timestamp;
                        _ringValid[slot] = true;
                        var written = _send!.ProtectRtp(plain.AsSpan(0, packet.Length), cipher);
                        if (written > 0)
                        {
                            SendRaw(cipher.AsSpan(0, written));
                            sentPackets++;
                            sentBytes += written;
                            _octets += (uint)(packet.Length - H264Packetizer.HeaderSize);
                        }
                    }

                    Interlocked.Add(ref _packets, sentPackets);
                    Counters.Sent(sentPackets, sentBytes);
                    burst += sentPackets;
                    if (_nackCount > 0)
                    {
                        Retransmit(plain, cipher);
                    }

                    if (behind && burst >= 64)
                    {
                        // A backlog (the cached group for a new viewer) goes out in bursts, not all in one go.
                        burst = 0;
                        await Task.Delay(2);
                    }

                    if (IsClosed)
                    {
                        return;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Close($"the send loop failed: {ex.Message}");
            return;
        }
        finally
        {
            if (!IsClosed)
            {
                Close(Feed.IsCompleted ? "the feed ended" : "the feed's packets ended");
            }

            _send?.Dispose();
        }
    }

    private void RestartAtKeyFrame(OrderedFeedReader current)
    {
        // At most twice a second: a browser repeats its PLI until a key frame arrives.
        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(_lastKeyFrameRestart, now) < TimeSpan.FromMilliseconds(500))
        {
            return;
        }

        _lastKeyFrameRestart = now;
        Counters.RestartedAtKeyFrame();
        var fresh = OpenReader();
        Volatile.Write(ref _reader, fresh);
        current.Close();
        if (IsClosed)
        {
            fresh.Close();
        }
    }

    private void Retransmit(byte[] plain, byte[] cipher)
    {
        Span<ushort> asked = stackalloc ushort[MaxPendingNacks];
        int count;
        lock (_lock)
        {
            count = _nackCount;
            _nacks.AsSpan(0, count).CopyTo(asked);
            _nackCount = 0;
        }

        for (var i = 0; i < count; i++)
        {
            var viewerSequence = asked[i];
            var slot = viewerSequence & (RingSize - 1);
            if (!_ringValid[slot] || _ringSequence[slot] != viewerSequence || !_packetizer.TryCopyPacket(_ringShared[slot], plain, out var length))
            {
                Counters.NackUnanswered();
                continue;
            }

            plain[1] = (byte)((plain[1] & 0x80) | _payloadType);
            BinaryPrimitives.WriteUInt16BigEndian(plain.AsSpan(2), viewerSequence);
            BinaryPrimitives.WriteUInt32BigEndian(plain.AsSpan(4), _ringTimestamp[slot]);
            var written = _send!.ProtectRtp(plain.AsSpan(0, length), cipher);
            if (written > 0)
            {
                SendRaw(cipher.AsSpan(0, written));
                Interlocked.Increment(ref _retransmissions);
                Counters.Retransmitted();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.WebRtcSessionConnected, LogLevel.Information, "Feed {Feed}: WebRTC viewer {Remote} connected ({Profile}, {Suite})")]
        public static partial void Connected(ILogger logger, string feed, string remote, string profile, string suite);

        [LoggerMessage(LogEvents.WebRtcHandshakeFailed, LogLevel.Warning, "Feed {Feed}: WebRTC handshake with {Remote} failed: {Reason}")]
        public static partial void HandshakeFailed(ILogger logger, string feed, string remote, string reason);

        [LoggerMessage(LogEvents.WebRtcSessionEnded, LogLevel.Information, "Feed {Feed}: WebRTC viewer {Remote} left ({Reason}) after {Packets} packets, {Retransmissions} retransmitted")]
        public static partial void Ended(ILogger logger, string feed, string remote, string reason, long packets, long retransmissions);
    }
}
