using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Osprey.Feeds;
using Osprey.Protocols.Sdp;
using Osprey.Protocols.Stun;
using Osprey.Runtime;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.WebRtc;

/// <summary>What the WebRTC output is configured with.</summary>
internal sealed class WebRtcOptions
{
    /// <summary>The address the UDP socket binds (the HTTP server's).</summary>
    public IPAddress Bind { get; init; } = IPAddress.Any;

    /// <summary>The UDP port; 0 picks a free one.</summary>
    public int Port { get; init; } = 8189;

    /// <summary>More host candidates (addresses or names) for NAT and containers.</summary>
    public IReadOnlyList<string> ExtraHosts { get; init; } = [];

    /// <summary>The most sessions at once (every state).</summary>
    public int MaxSessions { get; init; } = 500;

    /// <summary>The most sessions at once that have not finished ICE and DTLS (each holds a handshake thread).</summary>
    public int MaxPendingSessions { get; init; } = 16;

    /// <summary>How long ICE and DTLS may take from the answer.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long without a consent check (a STUN binding request) before a session ends (RFC 7675: 30 s).</summary>
    public TimeSpan ConsentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The most bytes of access units queued for one viewer before it skips to the next key frame.</summary>
    public long MaxQueuedBytes { get; init; } = 8L * 1024 * 1024;
}

/// <summary>
/// WebRTC's one UDP port: ICE-lite, DTLS and SRTP for every session, told apart by the first byte of each
/// datagram (RFC 7983: 0-3 STUN, 20-63 DTLS, 128-191 RTP and RTCP). STUN binding requests are matched to their
/// session by the USERNAME's first half (our ufrag) and checked with its password; the address that passed is
/// the session's, and DTLS and RTCP from it go to that session.
/// </summary>
/// <remarks>
/// <para>One receive thread reads the socket with a reused buffer and <see cref="SocketAddress"/> (no
/// allocation per datagram). Sessions send from their own loops through <see cref="Send"/>. One timer ticks
/// every second: handshake timeouts, consent freshness, sender reports.</para>
/// <para>Bounded: at most <see cref="WebRtcOptions.MaxSessions"/> sessions and
/// <see cref="WebRtcOptions.MaxPendingSessions"/> not yet connected; the tables are keyed by what the server
/// made (ufrags) or verified (addresses).</para>
/// </remarks>
internal sealed partial class WebRtcServer : IDisposable
{
    private readonly WebRtcOptions _options;
    private readonly ILogger _logger;
    private readonly Socket? _socket;
    private readonly Thread? _receiveThread;
    private readonly Timer _timer;
    private readonly ConcurrentDictionary<string, WebRtcSession> _byUfrag = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WebRtcSession> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<SocketAddress, WebRtcSession> _byAddress = [];
    private readonly Lock _addressLock = new();
    private volatile bool _disposed;

    public WebRtcServer(WebRtcOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Certificate = WebRtcCertificate.Create();
        try
        {
            _socket = new Socket(options.Bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (options.Bind.Equals(IPAddress.IPv6Any))
            {
                _socket.DualMode = true;
            }

            // Room for bursts: a new viewer's key frame and the group after it go out at once.
            _socket.SendBufferSize = 4 * 1024 * 1024;
            _socket.ReceiveBufferSize = 1024 * 1024;
            _socket.Bind(new IPEndPoint(options.Bind, options.Port));
            Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
        }
        catch (SocketException ex)
        {
            _socket?.Dispose();
            _socket = null;
            UnavailableReason = $"UDP port {options.Port} could not be bound: {ex.Message}";
            Log.Unavailable(logger, options.Port, ex.Message);
        }

        Candidates = _socket is null ? [] : GatherCandidates(options, Port);
        if (_socket is not null)
        {
            Log.Listening(logger, Port, string.Join(", ", Candidates.Select(c => c.Address)));
            _receiveThread = new Thread(ReceiveLoop) { IsBackground = true, Name = "webrtc-udp" };
            _receiveThread.Start();
        }

        _timer = new Timer(static s => ((WebRtcServer)s!).Tick(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>The DTLS certificate of this process.</summary>
    public WebRtcCertificate Certificate { get; }

    /// <summary>The UDP port bound (0 when WebRTC is off).</summary>
    public int Port { get; }

    /// <summary>The host candidates every answer lists.</summary>
    public IReadOnlyList<SdpCandidate> Candidates { get; }

    /// <summary>Why WebRTC is off, or null when it is on.</summary>
    public string? UnavailableReason { get; }

    /// <summary>The options.</summary>
    public WebRtcOptions Options => _options;

    /// <summary>Sessions now.</summary>
    public int SessionCount => _byId.Count;

    /// <summary>
    /// Answers <paramref name="offer"/> for a viewer of <paramref name="packetizer"/>'s feed: a new session with
    /// its own ICE credentials, waiting for the browser's checks. Null with a status and reason when refused
    /// (WebRTC off, too many sessions, no H.264 in the offer).
    /// </summary>
    public (WebRtcSession? Session, string? Answer, int Status, string? Error) Offer(Feed feed, RtpPacketizer packetizer, SdpOffer offer, string remote)
    {
        if (_socket is null || _disposed)
        {
            return (null, null, StatusCodes.Status503ServiceUnavailable, $"WebRTC is off: {UnavailableReason ?? "the server is stopping"}.");
        }

        if (_byId.Count >= _options.MaxSessions)
        {
            return (null, null, StatusCodes.Status503ServiceUnavailable, $"WebRTC has {_options.MaxSessions} sessions, its limit; try again later.");
        }

        if (_byId.Values.Count(s => !s.IsConnected) >= _options.MaxPendingSessions)
        {
            return (null, null, StatusCodes.Status503ServiceUnavailable, $"{_options.MaxPendingSessions} WebRTC sessions are still connecting, the limit; try again in a few seconds.");
        }

        if (!SdpAnswer.TryChoose(offer, packetizer.ProfileLevelId, out var choice, out var error))
        {
            return (null, null, StatusCodes.Status400BadRequest, $"Cannot answer this offer: {error}.");
        }

        var video = offer.Media.First(m => m.Mid == choice.VideoMid);
        var ufrag = RandomToken(8);
        var password = RandomToken(24);
        var id = RandomToken(22);
        var audioSsrc = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(4)) | 1;
        var answer = SdpAnswer.Write(offer, choice, new SdpAnswerOptions
        {
            IceUfrag = ufrag,
            IcePwd = password,
            Fingerprint = Certificate.Fingerprint,
            Candidates = Candidates,
            VideoSsrc = packetizer.Ssrc,
            AudioSsrc = audioSsrc,
            StreamProfileLevelId = packetizer.ProfileLevelId,
            SessionId = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1,
        });
        var session = new WebRtcSession(this, id, feed, packetizer, ufrag, password, video.IceUfrag!, video.Fingerprint, choice.VideoPayloadType, remote, _logger);
        _byUfrag[ufrag] = session;
        _byId[id] = session;
        Log.Offered(_logger, feed.Name, id, remote);
        return (session, answer, StatusCodes.Status201Created, null);
    }

    /// <summary>The session with the id <paramref name="id"/> (the WHEP resource's last segment).</summary>
    public bool TryGetSession(string id, out WebRtcSession session) => _byId.TryGetValue(id, out session!);

    /// <summary>Sends one datagram to <paramref name="address"/> (any thread).</summary>
    public void Send(ReadOnlySpan<byte> datagram, SocketAddress address)
    {
        try
        {
            _socket?.SendTo(datagram, SocketFlags.None, address);
        }
        catch (SocketException)
        {
            // The peer's port is gone (ICMP unreachable) or the buffer is full: a lost datagram, as UDP has it.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Called by a session that ended: it leaves every table.</summary>
    internal void Remove(WebRtcSession session)
    {
        _byUfrag.TryRemove(new KeyValuePair<string, WebRtcSession>(session.Ufrag, session));
        _byId.TryRemove(new KeyValuePair<string, WebRtcSession>(session.Id, session));
        lock (_addressLock)
        {
            foreach (var (address, owner) in _byAddress.Where(e => e.Value == session).ToList())
            {
                _byAddress.Remove(address);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _timer.Dispose();
        foreach (var session in _byId.Values)
        {
            session.Close("the server is stopping");
        }

        _socket?.Dispose();
    }

    private void ReceiveLoop()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(2048, pinned: true);
        var address = new SocketAddress(_socket!.AddressFamily);
        var response = new byte[StunMessage.MaxResponseSize];
        while (!_disposed)
        {
            int length;
            try
            {
                length = _socket.ReceiveFrom(buffer, SocketFlags.None, address);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize or SocketError.Interrupted)
            {
                continue; // an ICMP port unreachable reported on the next receive, or a datagram too large
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                if (!_disposed)
                {
                    Log.ReceiveFailed(_logger, ex);
                }

                return;
            }

            if (length == 0)
            {
                continue;
            }

            try
            {
                Dispatch(buffer.AsSpan(0, length), address, response);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // One bad datagram (or a session's bug) must not end the port for everyone.
                Log.ReceiveFailed(_logger, ex);
            }
        }
    }

    private void Dispatch(ReadOnlySpan<byte> datagram, SocketAddress address, byte[] response)
    {
        var first = datagram[0];
        if (first <= 3)
        {
            OnStun(datagram, address, response);
            return;
        }

        WebRtcSession? session;
        lock (_addressLock)
        {
            _byAddress.TryGetValue(address, out session);
        }

        if (session is null)
        {
            return; // not from an address that passed ICE: dropped
        }

        if (first is >= 20 and <= 63)
        {
            session.OnDtls(datagram);
        }
        else if (first is >= 128 and <= 191)
        {
            session.OnRtpOrRtcp(datagram);
        }
    }

    private void OnStun(ReadOnlySpan<byte> datagram, SocketAddress address, byte[] response)
    {
        if (!StunMessage.TryParse(datagram, out var view, out _) || view.Type != StunMessage.BindingRequest)
        {
            return;
        }

        var username = view.Username(datagram);
        var colon = username.IndexOf((byte)':');
        if (colon <= 0 || colon > 64)
        {
            return;
        }

        Span<char> ufragChars = stackalloc char[colon];
        if (Encoding.ASCII.GetChars(username[..colon], ufragChars) != colon)
        {
            return;
        }

        var lookup = _byUfrag.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!lookup.TryGetValue(ufragChars, out var session) || session.IsClosed)
        {
            return;
        }

        if (!StunMessage.CheckFingerprint(datagram, view) || !StunMessage.CheckIntegrity(datagram, view, session.PasswordBytes))
        {
            return;
        }

        if (!username[(colon + 1)..].SequenceEqual(session.RemoteUfragBytes))
        {
            return;
        }

        var isNew = false;
        lock (_addressLock)
        {
            if (!_byAddress.TryGetValue(address, out var owner))
            {
                if (_byAddress.Count >= _options.MaxSessions * 4)
                {
                    return;
                }

                var copy = new SocketAddress(address.Family, address.Size);
                address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
                _byAddress[copy] = session;
                isNew = true;
            }
            else if (owner != session)
            {
                return; // one address, one session
            }
        }

        _ = isNew;
        var endPoint = session.OnBinding(address, view.UseCandidate);
        var written = StunMessage.WriteBindingSuccess(response, StunMessage.TransactionId(datagram), endPoint, session.PasswordBytes);
        Send(response.AsSpan(0, written), address);
    }

    private void Tick()
    {
        var now = TimeProvider.System.GetTimestamp();
        foreach (var session in _byId.Values)
        {
            session.Tick(now);
        }
    }

    private static List<SdpCandidate> GatherCandidates(WebRtcOptions options, int port)
    {
        var candidates = new List<SdpCandidate>();
        if (options.Bind.Equals(IPAddress.Any) || options.Bind.Equals(IPAddress.IPv6Any))
        {
            try
            {
                foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                {
                    if (nic.OperationalStatus != OperationalStatus.Up)
                    {
                        continue;
                    }

                    foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                    {
                        var address = unicast.Address;
                        if (address.AddressFamily == AddressFamily.InterNetwork || (options.Bind.Equals(IPAddress.IPv6Any) && address.AddressFamily == AddressFamily.InterNetworkV6 && !address.IsIPv6LinkLocal))
                        {
                            candidates.Add(new SdpCandidate(address.ToString(), port));
                        }
                    }
                }
            }
            catch (NetworkInformationException)
            {
            }

            // Loopback last: a browser on this machine still finds it, a remote one tries the others first.
            candidates.Sort((a, b) => IPAddress.IsLoopback(IPAddress.Parse(a.Address)).CompareTo(IPAddress.IsLoopback(IPAddress.Parse(b.Address))));
        }
        else
        {
            candidates.Add(new SdpCandidate(options.Bind.ToString(), port));
        }

        foreach (var host in options.ExtraHosts)
        {
            candidates.Insert(0, new SdpCandidate(host, port));
        }

        return candidates.Count > 16 ? candidates[..16] : candidates;
    }

    private static string RandomToken(int length)
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return RandomNumberGenerator.GetString(Alphabet, length);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.WebRtcListening, LogLevel.Information, "WebRTC: UDP port {Port} (ICE-lite, DTLS-SRTP), host candidates {Candidates}")]
        public static partial void Listening(ILogger logger, int port, string candidates);

        [LoggerMessage(LogEvents.WebRtcUnavailable, LogLevel.Error, "WebRTC is off: UDP port {Port} could not be bound: {Reason}")]
        public static partial void Unavailable(ILogger logger, int port, string reason);

        [LoggerMessage(LogEvents.WebRtcSessionOffered, LogLevel.Debug, "Feed {Feed}: WebRTC session {Session} offered by {Remote}")]
        public static partial void Offered(ILogger logger, string feed, string session, string remote);

        [LoggerMessage(LogEvents.WebRtcReceiveFailed, LogLevel.Warning, "WebRTC: the receive loop failed")]
        public static partial void ReceiveFailed(ILogger logger, Exception exception);
    }
}
