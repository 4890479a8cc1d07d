using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// One WebSocket viewer of a feed: reads the feed as its <see cref="WebSocketFraming"/> wants and sends what
/// the framing makes of each frame over its <see cref="WebSocketConnection"/>, until either side ends.
/// </summary>
/// <remarks>
/// <para>Sending: each message's header and the shared, pooled frame buffer go out in one vectored send straight
/// to the connection's socket (see <see cref="ConnectionWriter"/>), so the per-viewer cost is the header and the
/// kernel's copy. Over TLS, or without a socket, messages go through the upgraded stream instead.</para>
/// <para>Ownership: the send loop owns the reader and the connection's sending side; the connection's receive
/// loop only wakes the reader (<see cref="IFrameReader.Wake"/>) to have pings and closes answered here, between
/// messages.</para>
/// </remarks>
internal sealed partial class WebSocketFrameViewer
{
    private static readonly TimeSpan s_stalledAbortGrace = TimeSpan.FromSeconds(1);

    private readonly HttpContext _context;
    private readonly Feed _feed;
    private readonly ILogger _logger;
    private readonly WebSocketFraming _framing;
    private readonly ViewerAdmission.Lease? _place;
    private IFrameReader? _reader;
    private volatile bool _stopping;
    private volatile bool _finished;

    private readonly Func<WebSocketConnection, Task<bool>>? _greet;

    private WebSocketFrameViewer(HttpContext context, Feed feed, ILogger logger, ViewerFraming framing, ViewerAdmission.Lease? place, Func<WebSocketConnection, Task<bool>>? greet)
    {
        _greet = greet;
        _context = context;
        _place = place;
        _feed = feed;
        _logger = logger;
        var limits = context.RequestServices?.GetService<ViewerLimits>() ?? new ViewerLimits();
        _framing = WebSocketFraming.Create(framing, feed, limits.MaxQueuedBytes);
    }

    /// <summary>Serves <paramref name="feed"/> to the WebSocket client of <paramref name="context"/> until either side ends.</summary>
    /// <param name="protocol">What /metrics counts the viewer as (<see cref="OutputProtocol"/>); by default the framing's.</param>
    /// <param name="greet">
    /// For protocols where the client speaks first (go2rtc's <c>/api/ws</c>): run after the 101 with the client's text
    /// messages collected (<see cref="WebSocketConnection.TextMessages"/>), before anything of the feed is sent; false ends
    /// the connection.
    /// </param>
    public static async Task ServeAsync(HttpContext context, Feed feed, ILogger logger, CancellationToken serverStopping, ViewerFraming framing = ViewerFraming.Frames, string? protocol = null, Func<WebSocketConnection, Task<bool>>? greet = null)
    {
        if (!await WebSocketUpgrade.ValidateAsync(context))
        {
            return;
        }

        protocol ??= framing switch
        {
            ViewerFraming.Fmp4 => OutputProtocol.Mp4,
            ViewerFraming.WebCodecs => OutputProtocol.H264,
            ViewerFraming.BerryMse => OutputProtocol.BerryMse,
            ViewerFraming.Go2rtcMse => OutputProtocol.Mp4,
            ViewerFraming.Stream => OutputProtocol.Ts,
            _ => OutputProtocol.Of(feed),
        };
        var (admitted, lease) = await ViewerAdmission.AdmitAsync(context, feed, protocol);
        using var place = lease;
        if (!admitted)
        {
            return;
        }

        var viewer = new WebSocketFrameViewer(context, feed, logger, framing, place, greet);
        await viewer.RunAsync(serverStopping);
    }

    private async Task RunAsync(CancellationToken serverStopping)
    {
        // Open the reader before the 101 so that the first frame is already latched (or queued) for this viewer.
        using var reader = _framing.OpenReader();
        _reader = reader;
        WebSocketConnection connection;
        try
        {
            connection = await WebSocketConnection.AcceptAsync(_context, _logger, _feed.Name);
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            Log.HandshakeFailed(_logger, _feed.Name, ex.Message);
            return; // the client left during the handshake
        }

        Log.ViewerConnected(_logger, _feed.Name, _context.Connection.RemoteIpAddress?.ToString() ?? "?", connection.IsDirect);
        using var stopRegistration = serverStopping.UnsafeRegister(static state => ((WebSocketFrameViewer)state!).OnServerStopping(), this);
        if (_greet is not null)
        {
            connection.CollectTextMessages();
        }

        var receiving = connection.StartReceiving(reader.Wake);
        if (connection.IsDirect)
        {
            // Each frame's send is one non-blocking sendmsg: done on the feed's fan-out thread with the other
            // viewers' sends, no thread-pool hop per viewer (a send that would block goes on asynchronously).
            reader.SignalOnFanOutThread();
        }

        try
        {
            if (_greet is null || await _greet(connection))
            {
                await SendLoopAsync(reader, connection);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            connection.MarkClientGone();
        }
        finally
        {
            // The loop may have ended on a fan-out thread: the teardown (close handshake, counters, a lazy
            // transform stopping with its last reader) is not a send, so it leaves that thread first.
            await Task.Yield();
            reader.Close();
        }

        if (connection.TimedOut)
        {
            _feed.CountViewerDropped();
            var limits = _context.RequestServices.GetService<ViewerLimits>() ?? new ViewerLimits();
            Log.SendTimedOut(_logger, _feed.Name, _context.Connection.RemoteIpAddress?.ToString() ?? "?", limits.SendTimeout.TotalSeconds);
        }

        await connection.FinishAsync(receiving, _stopping ? "server stopping" : "feed ended");
        _finished = true;
        connection.Dispose();
        Log.ViewerDisconnected(_logger, _feed.Name, reader.Frames, reader.Skipped);
    }

    private async Task SendLoopAsync(IFrameReader reader, WebSocketConnection connection)
    {
        while (await reader.WaitAsync())
        {
            if (reader.ConsumeWake())
            {
                if (!await connection.SendPendingPongAsync() || connection.IsEnding)
                {
                    return;
                }
            }

            while (reader.TryTake(out Frame frame))
            {
                using var lease = new FrameLease(frame);
                if (!await _framing.SendAsync(frame, connection))
                {
                    connection.MarkClientGone();
                    return;
                }

                _place?.Sent(frame);

                if (_framing.OneFramePerWake)
                {
                    break; // latest mode: one frame per wake, the newest
                }
            }
        }
    }

    private void OnServerStopping()
    {
        _stopping = true;
        _reader?.Close();
        // A viewer blocked in a send to a client that stopped reading would hold shutdown up: drop it.
        _ = Task.Delay(s_stalledAbortGrace).ContinueWith(
            static (_, state) =>
            {
                var viewer = (WebSocketFrameViewer)state!;
                if (!viewer._finished)
                {
                    viewer._context.Abort();
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ViewerConnected, LogLevel.Debug, "Feed {Feed}: viewer {Remote} connected (direct socket sends: {Direct})")]
        public static partial void ViewerConnected(ILogger logger, string feed, string remote, bool direct);

        [LoggerMessage(LogEvents.ViewerDisconnected, LogLevel.Debug, "Feed {Feed}: viewer left after {Frames} frames, {Drops} skipped")]
        public static partial void ViewerDisconnected(ILogger logger, string feed, long frames, long drops);

        [LoggerMessage(LogEvents.ViewerSendTimedOut, LogLevel.Information, "Feed {Feed}: dropped viewer {Remote}: its socket took nothing for {Seconds} s")]
        public static partial void SendTimedOut(ILogger logger, string feed, string remote, double seconds);

        [LoggerMessage(LogEvents.ViewerHandshakeFailed, LogLevel.Debug, "Feed {Feed}: a viewer left during the handshake: {Reason}")]
        public static partial void HandshakeFailed(ILogger logger, string feed, string reason);
    }
}
