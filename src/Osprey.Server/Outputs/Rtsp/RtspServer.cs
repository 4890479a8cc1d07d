using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Osprey.Feeds;
using Osprey.Runtime;
using Osprey.Server.Security;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.Rtsp;

/// <summary>What the RTSP output is configured with.</summary>
internal sealed class RtspOptions
{
    /// <summary>The address the TCP listener and the UDP pair bind (the HTTP server's).</summary>
    public IPAddress Bind { get; init; } = IPAddress.Any;

    /// <summary>The TCP port; 0 picks a free one.</summary>
    public int Port { get; init; } = 8554;

    /// <summary>The most RTSP connections at once (each may hold one session).</summary>
    public int MaxConnections { get; init; } = 512;

    /// <summary>How long a UDP session (or a connection with no session playing) lives without a request: the Session header's timeout.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a connection may stay without sending a whole first request.</summary>
    public TimeSpan FirstRequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long DESCRIBE and PLAY wait for the feed's first SPS or key frame (a lazy encoder starting).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A reader whose TCP send takes nothing for this long is dropped (counted).</summary>
    public TimeSpan SendTimeout { get; init; } = ViewerLimits.DefaultSendTimeout;

    /// <summary>The most bytes of packets queued for one reader before it skips to the next key frame.</summary>
    public long MaxQueuedBytes { get; init; } = ViewerLimits.DefaultMaxQueuedBytes;
}

/// <summary>
/// The RTSP server (RFC 2326): one TCP listener whose connections each run an <see cref="RtspConnection"/>, and
/// one UDP socket pair (RTP, RTCP) that every UDP reader's packets leave from. Readers of a feed all read the
/// feed's one <see cref="RtpPacketizer"/> (the WebRTC output's), so a feed is packetized once whatever the number
/// of readers.
/// </summary>
/// <remarks>
/// <para>Bounded: at most <see cref="RtspOptions.MaxConnections"/> connections (one more is answered 503 and
/// closed); viewers go through <see cref="ViewerAdmission"/>'s caps at SETUP. A one-second timer ends
/// connections that are silent past their timeout or whose send stalled past the send timeout.</para>
/// <para>A bind failure turns RTSP off with an error in the log rather than failing the server's start (as
/// WebRTC's UDP port does): the default port 8554 is often taken by a MediaMTX or go2rtc beside it.</para>
/// </remarks>
internal sealed partial class RtspServer : IDisposable
{
    private readonly Socket? _listener;
    private readonly Socket? _rtp;
    private readonly Socket? _rtcp;
    private readonly Timer _timer;
    private readonly ConcurrentDictionary<RtspConnection, byte> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile bool _disposed;

    public RtspServer(RtspOptions options, FeedRegistry registry, FeedViews views, AccessPolicy access, ViewerAdmission admission, ILogger logger)
    {
        Options = options;
        Registry = registry;
        Views = views;
        Access = access;
        Admission = admission;
        Logger = logger;
        try
        {
            _listener = new Socket(options.Bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (options.Bind.Equals(IPAddress.IPv6Any))
            {
                _listener.DualMode = true;
            }

            _listener.Bind(new IPEndPoint(options.Bind, options.Port));
            _listener.Listen(128);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            (_rtp, _rtcp) = BindUdpPair(options.Bind);
            RtpPort = ((IPEndPoint)_rtp.LocalEndPoint!).Port;
            RtcpPort = ((IPEndPoint)_rtcp.LocalEndPoint!).Port;
            var shown = options.Bind.Equals(IPAddress.IPv6Any) ? "[::]" : options.Bind.ToString();
            Log.Listening(logger, shown, Port, RtpPort, RtcpPort);
            _ = Task.Run(AcceptLoopAsync);
        }
        catch (SocketException ex)
        {
            _listener?.Dispose();
            _listener = null;
            _rtp?.Dispose();
            _rtcp?.Dispose();
            _rtp = _rtcp = null;
            Log.Unavailable(logger, options.Port, ex.Message);
        }

        _timer = new Timer(static s => ((RtspServer)s!).Tick(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>The TCP port bound (0 when RTSP is off).</summary>
    public int Port { get; }

    /// <summary>The UDP port RTP leaves from.</summary>
    public int RtpPort { get; }

    /// <summary>The UDP port RTCP leaves from (<see cref="RtpPort"/> + 1).</summary>
    public int RtcpPort { get; }

    /// <summary>Connections now.</summary>
    public int ConnectionCount => _connections.Count;

    internal RtspOptions Options { get; }

    internal FeedRegistry Registry { get; }

    internal FeedViews Views { get; }

    internal AccessPolicy Access { get; }

    internal ViewerAdmission Admission { get; }

    internal ILogger Logger { get; }

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>Sends an RTP (or, with <paramref name="rtcp"/>, RTCP) datagram to a UDP reader.</summary>
    internal void SendUdp(ReadOnlySpan<byte> datagram, SocketAddress to, bool rtcp)
    {
        var socket = rtcp ? _rtcp : _rtp;
        if (socket is null || _disposed)
        {
            return;
        }

        try
        {
            _ = socket.SendTo(datagram, SocketFlags.None, to);
        }
        catch (SocketException)
        {
            // The reader's port is closed or the network is down: the session's timeout ends it.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    internal void Remove(RtspConnection connection) => _connections.TryRemove(connection, out _);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stopping.Cancel();
        _timer.Dispose();
        _listener?.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Close("the server is stopping");
        }

        _rtp?.Dispose();
        _rtcp?.Dispose();
        _stopping.Dispose();
    }

    private static (Socket Rtp, Socket Rtcp) BindUdpPair(IPAddress bind)
    {
        // RTP on an even port and RTCP on the next (RFC 3550 §11), chosen by the kernel: try a few ephemeral ports.
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var rtp = NewUdp(bind);
            try
            {
                rtp.Bind(new IPEndPoint(bind, 0));
                var port = ((IPEndPoint)rtp.LocalEndPoint!).Port;
                if (port % 2 == 0 && port < 65535)
                {
                    var rtcp = NewUdp(bind);
                    try
                    {
                        rtcp.Bind(new IPEndPoint(bind, port + 1));
                        return (rtp, rtcp);
                    }
                    catch (SocketException)
                    {
                        rtcp.Dispose();
                    }
                }
            }
            catch (SocketException) when (attempt < 63)
            {
            }

            rtp.Dispose();
        }

        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    private static Socket NewUdp(IPAddress bind)
    {
        var socket = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (bind.Equals(IPAddress.IPv6Any))
        {
            socket.DualMode = true;
        }

        // Room for bursts: a new reader's group of pictures goes out at once.
        socket.SendBufferSize = 4 * 1024 * 1024;
        return socket;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_disposed)
        {
            Socket client;
            try
            {
                client = await _listener!.AcceptAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_disposed)
                {
                    return;
                }

                await Task.Delay(50);
                continue;
            }

            if (_connections.Count >= Options.MaxConnections)
            {
                // Told why, then closed: a loop of connections cannot take every descriptor.
                try
                {
                    client.Blocking = false; // never wait on a client that is refused
                    _ = client.Send("RTSP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"u8, SocketFlags.None);
                }
                catch (SocketException)
                {
                }

                client.Dispose();
                continue;
            }

            var connection = new RtspConnection(this, client);
            _connections[connection] = 0;
            _ = Task.Run(connection.RunAsync);
        }
    }

    private void Tick()
    {
        var now = Environment.TickCount64;
        foreach (var connection in _connections.Keys)
        {
            connection.Tick(now);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.RtspListening, LogLevel.Information, "RTSP: listening on rtsp://{Address}:{Port}/ (RTP over TCP, or UDP from ports {RtpPort}-{RtcpPort})")]
        public static partial void Listening(ILogger logger, string address, int port, int rtpPort, int rtcpPort);

        [LoggerMessage(LogEvents.RtspUnavailable, LogLevel.Error, "RTSP is off: TCP port {Port} could not be bound: {Reason}")]
        public static partial void Unavailable(ILogger logger, int port, string reason);
    }
}
