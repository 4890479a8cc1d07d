using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Sources.OpenMv;

/// <summary>
/// An OpenMV camera as a source, over USB serial, a UART or UDP (OpenMV protocol V2): JPEG frames pass through
/// with the probe prefix added, RGB565 and grayscale frames become YUYV.
/// URI: <c>openmv:///dev/ttyACM0</c> (optional <c>?baud=921600</c>), <c>openmv+udp://host:5555</c>.
/// </summary>
/// <remarks>
/// <para>Ownership: a run owns its transport (the open tty or socket) and its session, both on one dedicated
/// thread; cancelling the run ends the thread within 100 ms and closes the transport.</para>
/// <para>States for the API: <c>connecting</c> (feed Starting, detail "connecting") until the handshake is done and
/// a frame arrives, <c>streaming</c> (feed Running) while frames flow, <c>lost</c> (feed Waiting, detail
/// "lost: why; reconnecting in N s") when the camera was unplugged or stopped answering; the source reconnects
/// after 1, 2, 4, 8, then every 10 s, without a restart of Osprey or of the feed.</para>
/// </remarks>
public sealed partial class OpenMvSource : IFrameSource
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private uint _counter;

    /// <summary>Creates the source.</summary>
    public OpenMvSource(OpenMvOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The source's options.</summary>
    public OpenMvOptions Options { get; }

    /// <summary>Link counters over all connections.</summary>
    public OpenMvStats Stats { get; } = new();

    /// <inheritdoc />
    public string Uri => Options.ToUri();

    /// <inheritdoc />
    public VideoInfo ExpectedInfo => new(MediaFormat.Jpeg, 0, 0, 0);

    /// <inheritdoc />
    public async Task RunAsync(Feed feed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var backoff = new Backoff();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Stats.SetLink("connecting");
            feed.SetState(FeedState.Starting, "connecting");
            var framesBefore = Stats.Frames;
            string reason;
            try
            {
                // One dedicated thread per camera: the session blocks in poll(2) between packets.
                await Task.Factory.StartNew(
                    () => RunSession(feed, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                reason = "the session ended";
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is IOException or OpenMvLinkException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                reason = ex.Message;
            }

            if (Stats.Frames > framesBefore)
            {
                backoff.Reset(); // It streamed: an unplug starts the schedule again from 1 s.
            }

            var delay = backoff.Next();
            Stats.SetLink("lost");
            feed.SetState(FeedState.Waiting, FormattableString.Invariant($"lost: {reason}; reconnecting in {delay.TotalSeconds:0} s"));
            Log.Lost(_logger, feed.Name, reason, delay.TotalSeconds);
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private void RunSession(Feed feed, CancellationToken cancellationToken)
    {
        using IOpenMvTransport transport = Options.Kind == OpenMvLinkKind.Serial
            ? SerialTransport.Open(Options.Path, Options.BaudRate)
            : UdpTransport.Open(Options.Host, Options.Port);
        Stats.AddConnect();
        var session = new OpenMvHostSession(transport, Options, Stats, _time, _counter);
        try
        {
            var device = session.Connect(cancellationToken);
            Log.Connected(_logger, feed.Name, transport.Description, device, session.MaxPayload);
            if (feed.State != FeedState.Running)
            {
                // The camera answers; until its first frame, say so (a camera that never yields one is told apart
                // from one that does not answer at all).
                feed.SetState(FeedState.Starting, $"connected to {device}, no frame yet (stream: {Stats.StreamControl ?? "unknown"}; LOCK busy {Stats.Busy} times)");
            }

            session.Run(feed, cancellationToken);
        }
        finally
        {
            _counter = session.Counter;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.OpenMvConnected, LogLevel.Information, "Feed {Feed}: OpenMV connected on {Transport}: {Device}, max payload {MaxPayload}")]
        public static partial void Connected(ILogger logger, string feed, string transport, string device, int maxPayload);

        [LoggerMessage(LogEvents.OpenMvLost, LogLevel.Warning, "Feed {Feed}: OpenMV link lost ({Reason}); reconnecting in {Seconds} s")]
        public static partial void Lost(ILogger logger, string feed, string reason, double seconds);
    }
}
