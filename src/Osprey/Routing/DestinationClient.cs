using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Routing;

/// <summary>
/// One destination rule's outgoing WebSocket client: dial, authorise when the rule has a token, push the stream's
/// frames as binary messages, and dial again with backoff whenever anything fails, until stopped.
/// </summary>
/// <remarks>
/// <para>Ownership: the client's run loop owns its socket and its feed reader, and both live only as long as one
/// connection; while disconnected no reader is attached, so nothing queues for a relay that is down.</para>
/// <para>Tasks: the run loop, and while connected a receive loop beside it. <see cref="Stop"/> ends both within
/// <see cref="DestinationRegistry.CloseTimeout"/> or so, whatever the relay does.</para>
/// <para>Thread safety: <see cref="Stop"/> and <see cref="GetStatus"/> from any thread; the rest runs on the run
/// loop (the frame counters it shares with <see cref="GetStatus"/> are under a lock).</para>
/// <para>Parts: this file is the run loop and its state; the session (push or control, receive, close) is in
/// DestinationClient.Session.cs; <see cref="DestinationDialer"/> connects and authorises,
/// <see cref="DestinationPushLoop"/> sends frames, <see cref="DeliveryCounters"/> accounts them.</para>
/// </remarks>
[SuppressMessage("Reliability", "CA1001", Justification = "The run loop disposes its stop source when it ends; the registry owns the loop.")]
internal sealed partial class DestinationClient
{
    private readonly Func<string, string?>? _handleControl;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Action<DestinationClient> _finished;
    private readonly DestinationDialer _dialer;
    private readonly DestinationPushLoop _push;
    private readonly DeliveryCounters _counters = new();

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private Task _run = Task.CompletedTask;
    private Task? _cancelling; // under _lock: the stop's callbacks, awaited before _stop is disposed
    private bool _ended; // under _lock

    // Under _lock: state for the API.
    private DestinationState _state = DestinationState.Connecting;
    private string? _lastError;
    private long _retryStarted;
    private TimeSpan? _retryDelay;

    private long _messagesReceived;
    private long _reconnects;

    public DestinationClient(
        DestinationRule rule,
        Func<string, Feed?> resolveFeed,
        Func<string, string?>? handleControl,
        ILogger logger,
        TimeProvider time,
        DestinationSettings settings,
        Action<DestinationClient> finished)
    {
        Rule = rule;
        _handleControl = handleControl;
        _logger = logger;
        _time = time;
        _finished = finished;
        _dialer = new DestinationDialer(time, settings);
        _push = new DestinationPushLoop(rule, resolveFeed, logger, time, settings, _counters);
    }

    public DestinationRule Rule { get; }

    /// <summary>Completes when the client has closed its connection and ended.</summary>
    public Task Completion => _run;

    private bool IsControl => string.Equals(Rule.Stream, DestinationRegistry.ControlStream, StringComparison.Ordinal);

    public void Start() => _run = Task.Run(RunAsync);

    /// <summary>Asks the client to end; returns at once (the caller is often a REST request).</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _state = DestinationState.Stopped;
            _retryDelay = null;
            if (_ended || _cancelling is not null)
            {
                return;
            }

            // CancelAsync marks the token at once but runs its callbacks (closing the reader, ending waits) on the
            // thread pool, so a REST call never runs the client's shutdown inline, nor under this lock.
            _cancelling = _stop.CancelAsync();
        }
    }

    public DestinationStatus GetStatus()
    {
        lock (_lock)
        {
            double? retryIn = _retryDelay is { } delay
                ? Math.Max(0, (delay - _time.GetElapsedTime(_retryStarted)).TotalSeconds)
                : null;
            return new DestinationStatus(
                Rule.Id,
                Rule.Stream,
                Rule.Destination,
                _state,
                _counters.BytesSent,
                _counters.MessagesSent,
                _counters.Drops,
                Interlocked.Read(ref _reconnects),
                _lastError,
                retryIn)
            {
                MessagesReceived = Interlocked.Read(ref _messagesReceived),
                SendTimeouts = _push.SendTimeouts,
            };
        }
    }

    private async Task RunAsync()
    {
        var stop = _stop.Token;
        var backoff = new Backoff();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                Attempt attempt;
                try
                {
                    attempt = await ConnectAsync(stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    attempt = new Attempt(Describe(ex), Connected: false, Stood: false);
                }

                if (stop.IsCancellationRequested)
                {
                    break;
                }

                if (attempt.Stood)
                {
                    backoff.Reset();
                }

                var delay = backoff.Next();
                var retryStarted = _time.GetTimestamp();
                // Armed before the wait is shown, so that whoever sees RetryInSeconds sees a clock already running.
                var wait = Task.Delay(delay, _time, stop);
                lock (_lock)
                {
                    if (!stop.IsCancellationRequested)
                    {
                        _state = DestinationState.Reconnecting;
                        _lastError = attempt.Reason;
                        _retryStarted = retryStarted;
                        _retryDelay = delay;
                    }
                }

                if (attempt.Connected)
                {
                    Log.Disconnected(_logger, Rule.Id, Rule.Destination, attempt.Reason, delay.TotalSeconds);
                }
                else
                {
                    Log.ConnectFailed(_logger, Rule.Id, Rule.Destination, attempt.Reason, delay.TotalSeconds);
                }

                try
                {
                    await wait;
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                Interlocked.Increment(ref _reconnects);
                lock (_lock)
                {
                    _retryDelay = null;
                }
            }
        }
        finally
        {
            Task? cancelling;
            lock (_lock)
            {
                _state = DestinationState.Stopped;
                _retryDelay = null;
                _ended = true;
                cancelling = _cancelling;
            }

            if (cancelling is not null)
            {
                await cancelling;
            }

            _stop.Dispose();
            Log.Stopped(_logger, Rule.Id, Rule.Destination);
            _finished(this);
        }
    }

    /// <summary>One connection, from dialling to its end; throws only for a stop or a failure to connect.</summary>
    private async Task<Attempt> ConnectAsync(CancellationToken stop)
    {
        var dialled = await _dialer.DialAsync(Rule, stop);
        if (dialled.Socket is not { } connected)
        {
            return new Attempt(dialled.Failure!, Connected: false, Stood: false);
        }

        using var socket = connected;
        var connectedAt = _time.GetTimestamp();
        lock (_lock)
        {
            if (!stop.IsCancellationRequested)
            {
                _state = DestinationState.Connected;
            }
        }

        Log.Connected(_logger, Rule.Id, Rule.Destination, Rule.Stream);
        var reason = await RunSessionAsync(socket, stop);
        return new Attempt(reason, Connected: true, Stood: _time.GetElapsedTime(connectedAt) >= DestinationRegistry.StoodAfter);
    }

    /// <summary>An exception and its causes in plain words, without repeating what an outer message already says.</summary>
    /// <summary>
    /// A failure in our own words for API users: refused, unreachable, not allowed, never the peer's bytes (an
    /// exception's message can quote what the far end sent, which made lastError a banner grabber).
    /// </summary>
    internal static string Describe(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case DestinationNotAllowedException or DestinationSendTimeoutException:
                    return e.Message;
                case System.Net.Sockets.SocketException socket:
                    return socket.SocketErrorCode switch
                    {
                        System.Net.Sockets.SocketError.ConnectionRefused => "connection refused",
                        System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData or System.Net.Sockets.SocketError.TryAgain => "the host name does not resolve",
                        System.Net.Sockets.SocketError.TimedOut => "unreachable (timed out)",
                        System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionAborted => "the connection was reset",
                        _ => $"unreachable ({socket.SocketErrorCode})",
                    };
                case System.Security.Authentication.AuthenticationException:
                    return "the TLS handshake failed (is the relay's certificate trusted?)";
            }
        }

        return exception is WebSocketException ws
            ? ws.WebSocketErrorCode == WebSocketError.NotAWebSocket ? "the relay refused the WebSocket upgrade" : $"the WebSocket connection failed ({ws.WebSocketErrorCode})"
            : $"the connection failed ({exception.GetType().Name})";
    }

    private readonly record struct Attempt(string Reason, bool Connected, bool Stood);

    private static partial class Log
    {
        [LoggerMessage(LogEvents.DestinationConnected, LogLevel.Information, "Destination {Id}: connected to {Destination}, pushing {Stream}")]
        public static partial void Connected(ILogger logger, string id, string destination, string stream);

        [LoggerMessage(LogEvents.DestinationDisconnected, LogLevel.Information, "Destination {Id}: disconnected from {Destination} ({Reason}); reconnecting in {Seconds} s")]
        public static partial void Disconnected(ILogger logger, string id, string destination, string reason, double seconds);

        [LoggerMessage(LogEvents.DestinationConnectFailed, LogLevel.Information, "Destination {Id}: could not connect to {Destination} ({Reason}); retrying in {Seconds} s")]
        public static partial void ConnectFailed(ILogger logger, string id, string destination, string reason, double seconds);

        [LoggerMessage(LogEvents.DestinationStopped, LogLevel.Information, "Destination {Id}: stopped pushing to {Destination}")]
        public static partial void Stopped(ILogger logger, string id, string destination);

        [LoggerMessage(LogEvents.DestinationControlFailed, LogLevel.Warning, "Destination {Id}: the control handler failed on a command from the relay")]
        public static partial void ControlFailed(ILogger logger, string id, Exception exception);

        [LoggerMessage(LogEvents.DestinationControlMessageTooLong, LogLevel.Warning, "Destination {Id}: skipped a control message longer than {Limit} bytes")]
        public static partial void ControlMessageTooLong(ILogger logger, string id, int limit);

        // Event 7 (a failed stream lookup) is logged by DestinationPushLoop.
    }
}

/// <summary>What every client of one registry shares: queue bounds, the send timeout, and how relays are trusted.</summary>
internal sealed record DestinationSettings(
    int QueueCapacity,
    long QueueBytes,
    TimeSpan SendTimeout,
    RelayTrust Trust,
    System.Net.Security.RemoteCertificateValidationCallback? CertificateValidation,
    DestinationTargetPolicy TargetPolicy);
