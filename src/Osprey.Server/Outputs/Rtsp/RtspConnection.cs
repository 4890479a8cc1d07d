using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.Rtp;
using Osprey.Protocols.Rtsp;
using Osprey.Runtime;
using Osprey.Server.Security;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.Rtsp;

/// <summary>
/// One RTSP client connection: its requests read and answered in order, and at most one session (one feed, one
/// H.264 track) whose packets go over the connection (interleaved) or to the client's UDP ports.
/// </summary>
/// <remarks>
/// <para>Zero copy over TCP: the shared packetizer's frame holds each packet led by its 16-bit length, which
/// is exactly an interleaved frame without its first two bytes (<c>$</c> and the channel). So each packet is
/// sent as a 2-byte head from a static array and a slice of the shared frame, all of a frame's packets in one
/// vectored send.</para>
/// <para>Threads: the read loop handles requests and writes responses; the play loop sends media; both write
/// the socket under <see cref="_sendLock"/>, so a response never lands inside an interleaved frame. The
/// server's timer calls <see cref="Tick"/>.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The send lock's wait handle is never made (no AvailableWaitHandle), so it holds nothing to dispose; the socket is disposed by Close.")]
internal sealed partial class RtspConnection
{
    private const int BufferSize = RtspRequestParser.MaxHeadBytes + RtspRequestParser.MaxBodyBytes + 4 + 65535;
    private const int SenderReportSeconds = 2;
    private const int SendBufferBytes = 512 * 1024;
    private static readonly byte[][] s_channelHeads = [.. Enumerable.Range(0, 256).Select(c => new byte[] { (byte)'$', (byte)c })];
    private static readonly byte[] s_cname = Encoding.ASCII.GetBytes("osprey");

    private readonly RtspServer _server;
    private readonly Socket _socket;
    private readonly IPEndPoint _remote;
    private readonly string _remoteLabel;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly string _nonce = RandomNumberGenerator.GetHexString(32, lowercase: true);
    private readonly List<ArraySegment<byte>> _segments = new(64);
    private readonly byte[] _rtcpBuffer = new byte[4 + 128];
    private long _lastActivity = Environment.TickCount64;
    private long _sendPendingSince;
    private int _closed;
    private bool _hadRequest;

    // The session: set by the read loop before the play loop starts, read by it afterwards.
    private string? _sessionId;
    private Feed? _feed;
    private RtpPacketizer? _packetizer;
    private OrderedFeedReader? _reader;
    private Frame? _firstFrame;
    private RtspTransport _transport;
    private SocketAddress? _udpRtp;
    private SocketAddress? _udpRtcp;
    private ViewerAdmission.Lease? _lease;
    private Task? _playing;
    private string? _endReason;
    private long _packets;
    private uint _octets;
    private long _skips;
    private long _lastReport;

    public RtspConnection(RtspServer server, Socket socket)
    {
        _server = server;
        _socket = socket;
        _socket.NoDelay = true;
        // Bounded kernel memory per reader (autotuning would let a stalled one hold megabytes), and a reader that
        // stops reading shows as a stalled send within seconds; its reader queue holds the rest, counted.
        _socket.SendBufferSize = SendBufferBytes;
        _remote = (IPEndPoint)socket.RemoteEndPoint!;
        _remoteLabel = _remote.ToString();
    }

    private ILogger Logger => _server.Logger;

    /// <summary>Reads requests until the client leaves, the connection is closed or a request is malformed.</summary>
    public async Task RunAsync()
    {
        var buffer = new byte[BufferSize];
        var filled = 0;
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                var read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _server.Stopping);
                if (read == 0)
                {
                    Close("the client closed the connection");
                    return;
                }

                filled += read;
                Volatile.Write(ref _lastActivity, Environment.TickCount64);
                var offset = 0;
                while (offset < filled)
                {
                    var result = RtspRequestParser.Parse(buffer.AsSpan(offset, filled - offset));
                    if (result.Status == RtspParseStatus.NeedMore)
                    {
                        break;
                    }

                    if (result.Status == RtspParseStatus.Error)
                    {
                        Log.BadRequest(Logger, _remoteLabel, result.ErrorStatus, result.ErrorReason ?? "");
                        await RespondAsync(result.ErrorStatus, null, [], result.ErrorReason + "\n", "text/plain");
                        Close($"a malformed request: {result.ErrorReason}");
                        return;
                    }

                    offset += result.Consumed;
                    if (result.Status == RtspParseStatus.Request)
                    {
                        _hadRequest = true;
                        await HandleAsync(result.Request!);
                        if (Volatile.Read(ref _closed) != 0)
                        {
                            return;
                        }
                    }

                    // Interleaved frames from the client are its RTCP receiver reports: proof of life, nothing more.
                }

                if (offset > 0)
                {
                    buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
                    filled -= offset;
                }
                else if (filled == buffer.Length)
                {
                    await RespondAsync(431, null, [], "request too large\n", "text/plain");
                    Close("a request larger than the buffer");
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            Close(Volatile.Read(ref _closed) != 0 ? _endReason ?? "closed" : "the connection failed");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Close($"failed: {ex.Message}");
        }
    }

    /// <summary>Once a second: session expiry (no request or RTCP for the session timeout) and stalled sends.</summary>
    public void Tick(long now)
    {
        var idle = now - Volatile.Read(ref _lastActivity);
        var pending = Volatile.Read(ref _sendPendingSince);
        if (pending != 0 && _server.Options.SendTimeout > TimeSpan.Zero && now - pending > _server.Options.SendTimeout.TotalMilliseconds)
        {
            _packetizer?.RtspReaders.Dropped();
            Close($"its send stalled for {_server.Options.SendTimeout.TotalSeconds:0} s");
            return;
        }

        // A TCP reader that is playing lives as long as its connection (the send timeout catches a dead one);
        // a UDP reader or a connection not playing must keep itself alive with requests.
        var playingOverTcp = _playing is not null && _transport.Interleaved;
        if (!_hadRequest && idle > _server.Options.FirstRequestTimeout.TotalMilliseconds)
        {
            Close("no request");
        }
        else if (!playingOverTcp && idle > _server.Options.SessionTimeout.TotalMilliseconds)
        {
            Close($"the session timed out: no request for {_server.Options.SessionTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>Ends the session and the connection (idempotent).</summary>
    public void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _endReason = reason;
        EndSession(reason);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        _socket.Dispose();
        _server.Remove(this);
    }

    private void EndSession(string reason)
    {
        var reader = Interlocked.Exchange(ref _reader, null);
        reader?.Close();
        if (Interlocked.Exchange(ref _firstFrame, null) is { } first)
        {
            first.Release();
        }

        if (_playing is not null && _packetizer is { } packetizer && _feed is { } feed)
        {
            packetizer.RtspReaders.Ended();
            Log.Left(Logger, feed.Name, _remoteLabel, reason, Interlocked.Read(ref _packets), Interlocked.Read(ref _skips));
        }

        _playing = null;
        Interlocked.Exchange(ref _lease, null)?.Dispose();
        _sessionId = null;
    }

    private async Task HandleAsync(RtspRequest request)
    {
        var cseq = request.CSeq;
        if (request.Method is not ("OPTIONS" or "DESCRIBE" or "SETUP" or "PLAY" or "TEARDOWN" or "GET_PARAMETER" or "SET_PARAMETER"))
        {
            await RespondAsync(501, cseq, [], $"{request.Method} is not implemented\n", "text/plain");
            return;
        }

        var session = request["Session"] is { } sessionHeader ? sessionHeader.Split(';')[0].Trim() : null;
        if (session is not null && request.Method is not ("OPTIONS" or "DESCRIBE" or "SETUP") && session != _sessionId)
        {
            await RespondAsync(454, cseq, [], "Session Not Found\n", "text/plain");
            return;
        }

        switch (request.Method)
        {
            case "OPTIONS":
                await RespondAsync(200, cseq, [("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER"), .. SessionHeader()]);
                return;
            case "GET_PARAMETER" or "SET_PARAMETER":
                // Keep-alives (ffmpeg's and VLC's); the last-activity stamp the read loop set is the point.
                await RespondAsync(200, cseq, [.. SessionHeader()]);
                return;
            case "TEARDOWN":
                EndSession("the client ended it (TEARDOWN)");
                await RespondAsync(200, cseq, []);
                return;
        }

        var path = request.FeedPath(out var control);
        if (path is null || path.Length == 0)
        {
            await RespondAsync(404, cseq, [], "The URL names no feed: rtsp://host:port/{feed}\n", "text/plain");
            return;
        }

        if (!_server.Registry.TryGet(path, out var feed))
        {
            await RespondAsync(404, cseq, [], $"No feed named '{path}'.\n", "text/plain");
            return;
        }

        if (!await AuthorizeAsync(request, path, cseq))
        {
            return;
        }

        switch (request.Method)
        {
            case "DESCRIBE":
                await DescribeAsync(request, feed, cseq);
                return;
            case "SETUP":
                await SetupAsync(request, feed, control, cseq);
                return;
            case "PLAY":
                await PlayAsync(request, cseq);
                return;
        }
    }

    private IEnumerable<(string, string)> SessionHeader() =>
        _sessionId is { } id ? [("Session", $"{id};timeout={(int)_server.Options.SessionTimeout.TotalSeconds}")] : [];

    private async Task<bool> AuthorizeAsync(RtspRequest request, string path, string? cseq)
    {
        var access = _server.Access;
        var local = IPAddress.IsLoopback(_remote.Address) || (_remote.Address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(_remote.Address.MapToIPv4()));
        var header = request["Authorization"];
        var authorization = RtspAuthorization.Parse(header);
        OspreyPrincipal? principal = header is null ? access.Anonymous : null;
        string? refusal = header is not null && authorization is null ? "a malformed Authorization header" : null;
        if (access.Method == AuthMethod.Http)
        {
            (principal, refusal) = await AskCallbackAsync(access, authorization, header is not null && authorization is null, path);
        }
        else if (authorization is not null && access.Method == AuthMethod.Jwt)
        {
            // MediaMTX's way for RTSP: the JWT is Basic's password (the user name is not looked at).
            if (authorization.IsDigest)
            {
                refusal = "Digest credentials where a JWT is needed (send it as Basic's password)";
            }
            else
            {
                var result = await access.Jwt!.ValidateAsync(authorization.Password ?? "", _server.Stopping);
                principal = result.Principal;
                refusal = result.Principal is null ? $"a JWT refused: {result.Refusal}" : null;
            }
        }
        else if (authorization is not null && authorization.IsDigest)
        {
            principal = access.TryGetDigest(authorization.User, out var ha1, out var found) && authorization.VerifyDigest(request.Method, ha1, _nonce) ? found : null;
            refusal = principal is null ? $"Digest credentials of '{Printable(authorization.User)}' refused" : null;
        }
        else if (authorization is not null)
        {
            principal = access.CheckPassword(authorization.User, authorization.Password ?? "");
            refusal = principal is null ? $"Basic credentials of '{Printable(authorization.User)}' refused" : null;
        }

        if (principal is not null && principal.Allows(OspreyAction.Read, path, local))
        {
            return true;
        }

        if (principal is not null && principal.Name != OspreyPrincipal.AnonymousName)
        {
            await RespondAsync(403, cseq, [], $"'{principal.Name}' may not read '{path}'.\n", "text/plain");
            return false;
        }

        if (refusal is not null)
        {
            access.CountRefusal();
            Log.AuthRefused(Logger, _remoteLabel, path, refusal);
            // As the HTTP routes do: a wrong password costs the client time, so that guessing is slow.
            await Task.Delay(TimeSpan.FromMilliseconds(250), _server.Stopping);
        }

        // Both challenges: ffmpeg picks Digest when offered, other players may only know Basic. JWT and the
        // callback need the password itself, so they offer Basic alone.
        List<(string, string)> challenges = access.Method == AuthMethod.Internal
            ? [("WWW-Authenticate", $"Digest realm=\"{AccessPolicy.DigestRealm}\", nonce=\"{_nonce}\", algorithm=MD5"), ("WWW-Authenticate", $"Basic realm=\"{AccessPolicy.DigestRealm}\"")]
            : [("WWW-Authenticate", $"Basic realm=\"{AccessPolicy.DigestRealm}\"")];
        await RespondAsync(401, cseq, challenges);
        return false;
    }

    /// <summary>The HTTP callback asked for read on <paramref name="path"/>, as the HTTP routes ask it (protocol <c>rtsp</c>).</summary>
    private async Task<(OspreyPrincipal? Principal, string? Refusal)> AskCallbackAsync(AccessPolicy access, RtspAuthorization? authorization, bool malformed, string path)
    {
        if (malformed)
        {
            return (null, "a malformed Authorization header");
        }

        if (authorization is { IsDigest: true })
        {
            return (null, "Digest credentials where the authentication callback needs the password (send Basic)");
        }

        if ((access.Callback!.Excluded & OspreyAction.Read) != 0)
        {
            return (access.Anonymous, null);
        }

        var answer = await access.Callback.AskAsync(
            new AuthCallbackRequest(authorization?.User ?? "", authorization?.Password ?? "", "", _remote.Address.ToString(), OspreyActions.Format(OspreyAction.Read), path, "rtsp", _sessionId ?? "", ""),
            _server.Stopping);
        return answer switch
        {
            true => (new OspreyPrincipal(authorization is { User.Length: > 0 } ? Printable(authorization.User) : OspreyPrincipal.AnonymousName, [new Permission(OspreyAction.Read, PathGlob.Exact(path))]), null),
            // No credentials and a refusal is a request for credentials, as over HTTP.
            false => authorization is null ? (access.Anonymous, null) : (null, "credentials the authentication callback refused"),
            null => (null, "the authentication callback gave no answer"),
        };
    }

    private async Task DescribeAsync(RtspRequest request, Feed feed, string? cseq)
    {
        if (!await EnsureReaderAsync(feed, cseq))
        {
            return;
        }

        // The SPS and PPS arrive with the first key frame (a lazy encoder may still be starting).
        var packetizer = _packetizer!;
        var deadline = Stopwatch.GetTimestamp() + (long)(_server.Options.StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while ((packetizer.Sps.IsEmpty || packetizer.Pps.IsEmpty) && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(50, _server.Stopping);
        }

        if (packetizer.Sps.IsEmpty || packetizer.Pps.IsEmpty)
        {
            await RespondAsync(503, cseq, [], $"Feed '{feed.Name}' gave no H.264 parameter sets within {_server.Options.StartTimeout.TotalSeconds:0} s.\n", "text/plain");
            return;
        }

        var local = (IPEndPoint)_socket.LocalEndPoint!;
        var sdp = RtspSdp.Write(feed.Name, packetizer.Sps.Span, packetizer.Pps.Span, packetizer.Ssrc.ToString(CultureInfo.InvariantCulture), local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4().ToString() : local.Address.ToString());
        var baseUrl = request.Uri.EndsWith('/') ? request.Uri : request.Uri + "/";
        await RespondAsync(200, cseq, [("Content-Base", baseUrl)], sdp, "application/sdp");
    }

    private async Task<bool> EnsureReaderAsync(Feed feed, string? cseq)
    {
        if (_reader is not null && _feed == feed)
        {
            return true;
        }

        if (_playing is not null)
        {
            await RespondAsync(455, cseq, [], "This connection's session already plays another feed.\n", "text/plain");
            return false;
        }

        if (_server.Views.GetRtpPacketizer(feed, out var error) is not { } packetizer)
        {
            await RespondAsync(415, cseq, [], $"Feed '{feed.Name}' cannot be sent over RTSP: {error}.\n", "text/plain");
            return false;
        }

        EndSession("another feed was asked for");
        _feed = feed;
        _packetizer = packetizer;
        // Opened now: the packetizer (and a raw or JPEG feed's encoder) starts at DESCRIBE, and the reader holds
        // the group of pictures from the latest key frame by the time PLAY comes.
        _reader = packetizer.Output.OpenOrderedReader(capacity: 300, maxBytes: _server.Options.MaxQueuedBytes);
        return true;
    }

    private async Task SetupAsync(RtspRequest request, Feed feed, string? control, string? cseq)
    {
        if (control is not null && control != RtspSdp.TrackControl)
        {
            await RespondAsync(404, cseq, [], $"No track '{control}': the feed has one, {RtspSdp.TrackControl}.\n", "text/plain");
            return;
        }

        if (!RtspTransport.TryParse(request["Transport"], out var transport, out var transportError))
        {
            await RespondAsync(461, cseq, [], $"Unsupported Transport: {transportError}.\n", "text/plain");
            return;
        }

        if (!transport.Interleaved && _server.RtpPort == 0)
        {
            await RespondAsync(461, cseq, [], "UDP is off on this server.\n", "text/plain");
            return;
        }

        if (_playing is not null)
        {
            await RespondAsync(455, cseq, [], "The session is playing already.\n", "text/plain");
            return;
        }

        if (!await EnsureReaderAsync(feed, cseq))
        {
            return;
        }

        if (_lease is null)
        {
            var lease = _server.Admission.TryAdmit(feed, OutputProtocol.Rtsp, out var refusal);
            if (lease is null)
            {
                await RespondAsync(453, cseq, [], refusal + "\n", "text/plain");
                return;
            }

            _lease = lease;
        }

        _transport = transport;
        if (!transport.Interleaved)
        {
            // Only ever the RTSP client's own address: a SETUP cannot aim the server's packets at someone else.
            var address = _remote.Address;
            _udpRtp = new IPEndPoint(address, transport.ClientRtpPort).Serialize();
            _udpRtcp = new IPEndPoint(address, transport.ClientRtcpPort).Serialize();
        }

        _sessionId ??= RandomNumberGenerator.GetHexString(16, lowercase: true);
        await RespondAsync(200, cseq, [("Transport", transport.Describe(_server.RtpPort, _server.RtcpPort, _packetizer!.Ssrc)), .. SessionHeader()]);
    }

    private async Task PlayAsync(RtspRequest request, string? cseq)
    {
        if (_sessionId is null || _reader is not { } reader || _feed is not { } feed || _packetizer is not { } packetizer)
        {
            await RespondAsync(455, cseq, [], "PLAY before SETUP.\n", "text/plain");
            return;
        }

        if (_playing is not null)
        {
            await RespondAsync(200, cseq, [("Range", "npt=0.000-"), .. SessionHeader()]);
            return;
        }

        // The first frame decides RTP-Info (its first packet's sequence number and timestamp).
        var first = await FirstFrameAsync(reader);
        if (first is null)
        {
            await RespondAsync(503, cseq, [], $"Feed '{feed.Name}' gave no frame within {_server.Options.StartTimeout.TotalSeconds:0} s.\n", "text/plain");
            return;
        }

        var (sequence, timestamp) = FirstPacket(first);
        _firstFrame = first;
        var trackUrl = (request.Uri.EndsWith('/') ? request.Uri : request.Uri + "/") + RtspSdp.TrackControl;
        if (request.Uri.EndsWith(RtspSdp.TrackControl, StringComparison.Ordinal))
        {
            trackUrl = request.Uri;
        }

        packetizer.RtspReaders.Started();
        _playing = Task.CompletedTask; // marks the session playing before the response, so Tick and TEARDOWN see it
        await RespondAsync(200, cseq, [("Range", "npt=0.000-"), ("RTP-Info", $"url={trackUrl};seq={sequence};rtptime={timestamp}"), .. SessionHeader()]);
        Log.Playing(Logger, feed.Name, _remoteLabel, _transport.Interleaved ? "TCP (interleaved)" : $"UDP to port {_transport.ClientRtpPort}");
        _playing = Task.Run(() => PlayLoopAsync(reader, packetizer));
    }

    private async Task<Frame?> FirstFrameAsync(OrderedFeedReader reader)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_server.Options.StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (reader.TryDequeue(out var frame))
            {
                if (frame.Length >= 2 + H264Packetizer.HeaderSize)
                {
                    return frame;
                }

                frame.Release();
                continue;
            }

            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            try
            {
                if (!await reader.WaitAsync().AsTask().WaitAsync(left, _server.Stopping))
                {
                    return null;
                }
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    private static (ushort Sequence, uint Timestamp) FirstPacket(Frame frame)
    {
        foreach (var packet in new RtpPacketRun(frame.Span))
        {
            return (BinaryPrimitives.ReadUInt16BigEndian(packet[2..]), BinaryPrimitives.ReadUInt32BigEndian(packet[4..]));
        }

        return (0, 0);
    }

    private async Task PlayLoopAsync(OrderedFeedReader reader, RtpPacketizer packetizer)
    {
        var counters = packetizer.RtspReaders;
        var lease = _lease;
        long skipEvents = reader.SkipEvents;
        try
        {
            if (Interlocked.Exchange(ref _firstFrame, null) is { } first)
            {
                using var firstLease = new FrameLease(first);
                if (!await SendFrameAsync(first, packetizer))
                {
                    return;
                }

                lease?.Sent(first);
            }

            while (await reader.WaitAsync())
            {
                var burst = 0;
                while (reader.TryDequeue(out var frame))
                {
                    using var frameLease = new FrameLease(frame);
                    if (reader.SkipEvents != skipEvents)
                    {
                        // Fell behind by more than its queue holds: the reader skipped to the next key frame.
                        counters.Skipped();
                        Interlocked.Increment(ref _skips);
                        skipEvents = reader.SkipEvents;
                    }

                    if (!await SendFrameAsync(frame, packetizer))
                    {
                        return;
                    }

                    lease?.Sent(frame);
                    burst++;
                    if (!_transport.Interleaved && reader.Queued > 0 && burst >= 8)
                    {
                        // A backlog (the cached group for a new reader) goes out over UDP in bursts, not at once.
                        burst = 0;
                        await Task.Delay(1);
                    }
                }

                if (Volatile.Read(ref _closed) != 0 || _reader != reader)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            Close("the connection failed while sending");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Close($"the send loop failed: {ex.Message}");
        }
        finally
        {
            if (_reader == reader && Volatile.Read(ref _closed) == 0)
            {
                Close(packetizer.Output.IsCompleted ? "the feed ended" : "the feed's packets ended");
            }
        }
    }

    // Not async over UDP; over TCP one vectored send of every packet of the frame (and a due sender report).
    private ValueTask<bool> SendFrameAsync(Frame frame, RtpPacketizer packetizer)
    {
        var now = Environment.TickCount64;
        var reportDue = now - _lastReport >= SenderReportSeconds * 1000;
        if (reportDue)
        {
            _lastReport = now;
        }

        var packets = 0;
        var payloadOctets = 0;
        if (!_transport.Interleaved)
        {
            if (reportDue)
            {
                var length = WriteSenderReport(packetizer, _rtcpBuffer);
                _server.SendUdp(_rtcpBuffer.AsSpan(0, length), _udpRtcp!, rtcp: true);
            }

            foreach (var packet in new RtpPacketRun(frame.Span))
            {
                _server.SendUdp(packet, _udpRtp!, rtcp: false);
                packets++;
                payloadOctets += packet.Length - H264Packetizer.HeaderSize;
            }

            Counted(packetizer, packets, payloadOctets, frame.Length);
            return new ValueTask<bool>(true);
        }

        _segments.Clear();
        if (reportDue)
        {
            var length = WriteSenderReport(packetizer, _rtcpBuffer.AsSpan(4));
            _rtcpBuffer[0] = (byte)'$';
            _rtcpBuffer[1] = (byte)(_transport.RtpChannel + 1);
            BinaryPrimitives.WriteUInt16BigEndian(_rtcpBuffer.AsSpan(2), (ushort)length);
            _segments.Add(new ArraySegment<byte>(_rtcpBuffer, 0, 4 + length));
        }

        if (!frame.TryGetSegment(out var whole))
        {
            return new ValueTask<bool>(true); // packet runs are pooled frames; an external one would be no run
        }

        var head = s_channelHeads[_transport.RtpChannel];
        var offset = 0;
        var span = whole.AsSpan();
        while (offset + 2 <= span.Length)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(span[offset..]);
            if (offset + 2 + length > span.Length)
            {
                break;
            }

            _segments.Add(head);
            // The run's length prefix and the packet: the interleaved frame's last 2 + length bytes.
            _segments.Add(new ArraySegment<byte>(whole.Array!, whole.Offset + offset, 2 + length));
            packets++;
            payloadOctets += length - H264Packetizer.HeaderSize;
            offset += 2 + length;
        }

        if (_segments.Count == 0)
        {
            return new ValueTask<bool>(true);
        }

        return SendSegmentsAsync(packetizer, packets, payloadOctets, frame.Length);
    }

    private async ValueTask<bool> SendSegmentsAsync(RtpPacketizer packetizer, int packets, int payloadOctets, int frameBytes)
    {
        var total = 0;
        foreach (var segment in _segments)
        {
            total += segment.Count;
        }

        await _sendLock.WaitAsync(_server.Stopping);
        try
        {
            Volatile.Write(ref _sendPendingSince, Math.Max(1, Environment.TickCount64));
            var sent = await _socket.SendAsync(_segments, SocketFlags.None);
            if (sent != total)
            {
                Close("a partial send");
                return false;
            }
        }
        finally
        {
            Volatile.Write(ref _sendPendingSince, 0);
            _sendLock.Release();
        }

        Counted(packetizer, packets, payloadOctets, frameBytes);
        return true;
    }

    private void Counted(RtpPacketizer packetizer, int packets, int payloadOctets, int bytes)
    {
        Interlocked.Add(ref _packets, packets);
        _octets += (uint)payloadOctets;
        packetizer.RtspReaders.Sent(packets, bytes);
    }

    private int WriteSenderReport(RtpPacketizer packetizer, Span<byte> destination)
    {
        // The shared timeline, unchanged per reader: the packets carry the packetizer's own timestamps.
        var now = Stopwatch.GetTimestamp();
        return Rtcp.WriteSenderReport(destination, packetizer.Ssrc, Rtcp.NtpTimestamp(DateTime.UtcNow), packetizer.TimestampAt(now), (uint)Interlocked.Read(ref _packets), _octets, s_cname);
    }

    private async Task RespondAsync(int status, string? cseq, IEnumerable<(string Name, string Value)> headers, string? body = null, string? contentType = null)
    {
        var text = new StringBuilder(256);
        text.Append("RTSP/1.0 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Reason(status)).Append("\r\n");
        if (cseq is not null)
        {
            text.Append("CSeq: ").Append(Printable(cseq)).Append("\r\n");
        }

        text.Append("Server: Osprey\r\n");
        text.Append("Date: ").Append(DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        var bodyBytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        if (contentType is not null)
        {
            text.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        text.Append("Content-Length: ").Append(bodyBytes.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n\r\n");
        var headBytes = Encoding.UTF8.GetBytes(text.ToString());
        var bytes = new byte[headBytes.Length + bodyBytes.Length];
        headBytes.CopyTo(bytes, 0);
        bodyBytes.CopyTo(bytes, headBytes.Length);
        if (Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        await _sendLock.WaitAsync(_server.Stopping);
        try
        {
            Volatile.Write(ref _sendPendingSince, Math.Max(1, Environment.TickCount64));
            var offset = 0;
            while (offset < bytes.Length)
            {
                offset += await _socket.SendAsync(bytes.AsMemory(offset), SocketFlags.None, _server.Stopping);
            }
        }
        finally
        {
            Volatile.Write(ref _sendPendingSince, 0);
            _sendLock.Release();
        }
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        461 => "Unsupported Transport",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        _ => "Error",
    };

    private static string Printable(string value)
    {
        var builder = new StringBuilder(Math.Min(value.Length, 64));
        foreach (var c in value.AsSpan(0, Math.Min(value.Length, 64)))
        {
            builder.Append(char.IsControl(c) ? '_' : c);
        }

        return builder.ToString();
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.RtspPlaying, LogLevel.Information, "Feed {Feed}: RTSP reader {Remote} playing over {Transport}")]
        public static partial void Playing(ILogger logger, string feed, string remote, string transport);

        [LoggerMessage(LogEvents.RtspReaderLeft, LogLevel.Information, "Feed {Feed}: RTSP reader {Remote} left ({Reason}) after {Packets} packets, {Skips} skips to a key frame")]
        public static partial void Left(ILogger logger, string feed, string remote, string reason, long packets, long skips);

        [LoggerMessage(LogEvents.RtspBadRequest, LogLevel.Warning, "RTSP {Remote}: refused request: {Status} {Reason}")]
        public static partial void BadRequest(ILogger logger, string remote, int status, string reason);

        [LoggerMessage(LogEvents.RtspAuthRefused, LogLevel.Warning, "RTSP {Remote}: refused credentials for {Feed}: {Detail}")]
        public static partial void AuthRefused(ILogger logger, string remote, string feed, string detail);
    }
}
