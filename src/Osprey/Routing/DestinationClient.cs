using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
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
/// </remarks>
[SuppressMessage("Reliability", "CA1001", Justification = "The run loop disposes its stop source when it ends; the registry owns the loop.")]
internal sealed partial class DestinationClient
{
    private const int DataReceiveBufferBytes = 4096;

    /// <summary>Control commands are small JSON objects; anything bigger is skipped rather than buffered.</summary>
    private const int MaxControlMessageBytes = 256 * 1024;

    private const int MaxAuthorisationReplyBytes = 64 * 1024;

    private readonly Func<string, Feed?> _resolveFeed;
    private readonly Func<string, string?>? _handleControl;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly int _queueCapacity;
    private readonly RemoteCertificateValidationCallback? _certificateValidation;
    private readonly Action<DestinationClient> _finished;

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

    // Under _lock: drop accounting shared between the run loop and GetStatus.
    private long _drops;
    private long _carriedSkips;
    private OrderedFeedReader? _reader;
    private long _readerSkipsCounted;
    private long _lastSent;

    // Run loop only.
    private Feed? _lastFeed;
    private bool _resolveFailureLogged;

    private long _bytesSent;
    private long _messagesSent;
    private long _messagesReceived;
    private long _reconnects;

    public DestinationClient(
        DestinationRule rule,
        Func<string, Feed?> resolveFeed,
        Func<string, string?>? handleControl,
        ILogger logger,
        TimeProvider time,
        int queueCapacity,
        RemoteCertificateValidationCallback? certificateValidation,
        Action<DestinationClient> finished)
    {
        Rule = rule;
        _resolveFeed = resolveFeed;
        _handleControl = handleControl;
        _logger = logger;
        _time = time;
        _queueCapacity = queueCapacity;
        _certificateValidation = certificateValidation;
        _finished = finished;
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
                Interlocked.Read(ref _bytesSent),
                Interlocked.Read(ref _messagesSent),
                _drops + _carriedSkips + PendingSkips(),
                Interlocked.Read(ref _reconnects),
                _lastError,
                retryIn)
            {
                MessagesReceived = Interlocked.Read(ref _messagesReceived),
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
                    attempt = await DialAsync(stop);
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
    private async Task<Attempt> DialAsync(CancellationToken stop)
    {
        // An invalid URL is the operator's to fix, and may be fixed by replacing the rule: retry, do not throw.
        if (!DestinationUrl.TryParse(Rule.Destination, out var uri, out var urlError))
        {
            return new Attempt(urlError, Connected: false, Stood: false);
        }

        using var socket = new ClientWebSocket();
        // A relay that vanished without closing (power cut, NAT timeout) is noticed by its missing pongs instead
        // of by TCP giving up minutes later.
        socket.Options.KeepAliveInterval = DestinationRegistry.KeepAliveInterval;
        socket.Options.KeepAliveTimeout = DestinationRegistry.KeepAliveInterval;
        if (_certificateValidation is not null)
        {
            socket.Options.RemoteCertificateValidationCallback = _certificateValidation;
        }

        using (var timeout = new CancellationTokenSource(DestinationRegistry.ConnectTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token))
        {
            try
            {
                await socket.ConnectAsync(uri, linked.Token);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                return new Attempt(
                    $"no answer from the relay within {DestinationRegistry.ConnectTimeout.TotalSeconds:0} s",
                    Connected: false,
                    Stood: false);
            }
        }

        if (Rule.Token.Length > 0 && await AuthoriseAsync(socket, stop) is { } refused)
        {
            return new Attempt(refused, Connected: false, Stood: false);
        }

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

    /// <summary>vw's DialAuth: the token as the first text message, then one text reply saying authorised.</summary>
    /// <returns>Null when authorised, otherwise why not.</returns>
    private async Task<string?> AuthoriseAsync(ClientWebSocket socket, CancellationToken stop)
    {
        using var timeout = new CancellationTokenSource(DestinationRegistry.AuthorisationTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        var buffer = new byte[MaxAuthorisationReplyBytes];
        (WebSocketMessageType Type, int Length) reply;
        try
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(Rule.Token), WebSocketMessageType.Text, endOfMessage: true, linked.Token);
            reply = await ReceiveWholeAsync(socket, buffer, linked.Token);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return $"the relay did not answer the token within {DestinationRegistry.AuthorisationTimeout.TotalSeconds:0} s";
        }

        if (reply.Type == WebSocketMessageType.Close)
        {
            return $"the relay closed the connection instead of answering the token{DescribeClose(socket)}";
        }

        if (reply.Type != WebSocketMessageType.Text)
        {
            return "the relay answered the token with a binary message, not text";
        }

        if (reply.Length < 0)
        {
            return "the relay's answer to the token is too long";
        }

        return CheckAuthorisation(buffer.AsSpan(0, reply.Length));
    }

    /// <summary>Crossbar's AuthMessage: <c>{"topic":…,"token":…,"authorised":true,"reason":"ok"}</c>.</summary>
    internal static string? CheckAuthorisation(ReadOnlySpan<byte> json)
    {
        bool? authorised = null;
        string? reason = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return "the relay's answer to the token is not a JSON object";
            }

            // Go's encoding/json, which crossbar and vw use, matches field names case-insensitively.
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (string.Equals(property.Name, "authorised", StringComparison.OrdinalIgnoreCase))
                {
                    authorised = property.Value.ValueKind == JsonValueKind.True;
                }
                else if (string.Equals(property.Name, "reason", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                {
                    reason = property.Value.GetString();
                }
            }
        }
        catch (JsonException)
        {
            return "the relay's answer to the token is not JSON";
        }

        return authorised == true
            ? null
            : $"the relay refused the token: {(string.IsNullOrWhiteSpace(reason) ? "no reason given" : reason)}";
    }

    /// <summary>Runs a connection until it ends or the client stops, then closes it; returns why it ended.</summary>
    private async Task<string> RunSessionAsync(ClientWebSocket socket, CancellationToken stop)
    {
        // Cancelled when the connection should end: the client stops, or the receive side saw it end.
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        // Armed when the session ends: a close that cannot be had politely in time (a send stuck on a relay that
        // stopped reading, a relay that never answers our close) aborts the socket instead of waiting on it.
        using var abort = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var abortSocket = abort.Token.UnsafeRegister(static state => ((WebSocket)state!).Abort(), socket);
        using var armAbort = session.Token.UnsafeRegister(
            static state => ((CancellationTokenSource)state!).CancelAfter(DestinationRegistry.CloseTimeout),
            abort);
        // Control replies (from the receive loop) and the close may otherwise overlap; frames never overlap either.
        using var sendLock = new SemaphoreSlim(1, 1);
        var receive = ReceiveLoopAsync(socket, session, sendLock, abort.Token);
        string? sendFailure = null;
        string? received;
        try
        {
            if (IsControl)
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, session.Token);
            }
            else
            {
                await PushAsync(socket, stop, session.Token, abort.Token);
            }
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested || abort.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or InvalidOperationException)
        {
            sendFailure = $"sending failed: {Describe(ex)}";
        }
        finally
        {
            await session.CancelAsync(); // which arms the abort
            await CloseAsync(socket, stop.IsCancellationRequested, sendLock, abort.Token);
            // Awaited here, whatever escaped above, so that the receive loop never outlives the session's sources.
            received = await receive;
        }

        return received ?? sendFailure ?? "the connection ended";
    }

    private static async Task CloseAsync(ClientWebSocket socket, bool removed, SemaphoreSlim sendLock, CancellationToken abort)
    {
        try
        {
            await sendLock.WaitAsync(abort);
            try
            {
                // Open: we end it (1000, as vw's reconws on cancel). CloseReceived: the relay ended it; complete
                // the handshake. Anything else is already over.
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    var description = removed ? "destination removed" : "";
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, description, abort);
                }
            }
            finally
            {
                sendLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or InvalidOperationException)
        {
            // The socket is aborted or disposed next anyway.
        }
    }

    /// <summary>
    /// Always reads, so that pings, pongs and the relay's close are processed. Data rules ignore what the relay
    /// sends (counted); control rules answer text commands.
    /// </summary>
    /// <returns>Why the connection ended, or null when it ended because we closed or aborted it.</returns>
    private async Task<string?> ReceiveLoopAsync(ClientWebSocket socket, CancellationTokenSource session, SemaphoreSlim sendLock, CancellationToken abort)
    {
        var control = IsControl && _handleControl is not null;
        var buffer = new byte[control ? MaxControlMessageBytes : DataReceiveBufferBytes];
        try
        {
            while (true)
            {
                var (type, length) = await ReceiveWholeAsync(socket, buffer, abort);
                if (type == WebSocketMessageType.Close)
                {
                    return session.IsCancellationRequested ? null : $"the relay closed the connection{DescribeClose(socket)}";
                }

                Interlocked.Increment(ref _messagesReceived);
                if (!control || type != WebSocketMessageType.Text)
                {
                    continue;
                }

                if (length < 0)
                {
                    Log.ControlMessageTooLong(_logger, Rule.Id, MaxControlMessageBytes);
                    continue;
                }

                string? reply;
                try
                {
                    reply = _handleControl!(Encoding.UTF8.GetString(buffer, 0, length));
                }
                catch (Exception ex)
                {
                    Log.ControlFailed(_logger, Rule.Id, ex);
                    continue;
                }

                if (reply is not null)
                {
                    await SendControlReplyAsync(socket, reply, sendLock, abort);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            return session.IsCancellationRequested || abort.IsCancellationRequested
                ? null
                : $"the connection was lost: {Describe(ex)}";
        }
        finally
        {
            // The relay closed or the connection broke: end the push loop too.
            await session.CancelAsync();
        }
    }

    private async Task SendControlReplyAsync(ClientWebSocket socket, string reply, SemaphoreSlim sendLock, CancellationToken abort)
    {
        var bytes = Encoding.UTF8.GetBytes(reply);
        await sendLock.WaitAsync(abort);
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, abort);
                CountSent(bytes.Length);
            }
        }
        finally
        {
            sendLock.Release();
        }
    }

    /// <summary>Pushes whichever feed the stream's name resolves to, re-resolving when there is none or it ends.</summary>
    private async Task PushAsync(ClientWebSocket socket, CancellationToken stop, CancellationToken session, CancellationToken abort)
    {
        while (!session.IsCancellationRequested && !stop.IsCancellationRequested)
        {
            var feed = Resolve();
            if (feed is null || feed.IsCompleted)
            {
                // Streams come and go while their destination stays: keep the connection and look again.
                await Task.Delay(DestinationRegistry.ResolveInterval, _time, session);
                continue;
            }

            await PushFeedAsync(socket, feed, stop, session, abort);
        }
    }

    private Feed? Resolve()
    {
        try
        {
            var feed = _resolveFeed(Rule.Stream);
            _resolveFailureLogged = false;
            return feed;
        }
        catch (Exception ex)
        {
            if (!_resolveFailureLogged)
            {
                _resolveFailureLogged = true;
                Log.ResolveFailed(_logger, Rule.Id, Rule.Stream, ex);
            }

            return null;
        }
    }

    /// <summary>Sends one feed's frames, each as one binary message, until the feed ends or the session does.</summary>
    private async Task PushFeedAsync(ClientWebSocket socket, Feed feed, CancellationToken stop, CancellationToken session, CancellationToken abort)
    {
        if (!ReferenceEquals(feed, _lastFeed))
        {
            SwitchFeed(feed);
        }

        var reader = feed.OpenOrderedReader(_queueCapacity);
        using var closeReader = session.UnsafeRegister(static state => ((OrderedFeedReader)state!).Close(), reader);
        lock (_lock)
        {
            _reader = reader;
            // Frames skipped while the cached group of pictures was queued may be ones already sent: they are
            // accounted by sequence number when the next frame goes, not as this reader's skips.
            _readerSkipsCounted = reader.SkippedFrames;
        }

        var headerSent = false;
        var headerVersion = 0;
        try
        {
            while (await reader.WaitAsync())
            {
                while (true)
                {
                    // Read before taking the frame: every frame skipped by then is older than the frame taken.
                    var skippedBefore = reader.SkippedFrames;
                    if (!reader.TryDequeue(out var frame))
                    {
                        break;
                    }

                    using var lease = new FrameLease(frame);
                    if (frame.Sequence <= _lastSent)
                    {
                        // A reconnect starts from the cached group of pictures, which overlaps what the relay has
                        // already been sent: resume after it rather than send the relay's viewers frames twice.
                        continue;
                    }

                    // Checked on the stop token itself (a linked token is told later): once Set or Remove has
                    // returned, not one more frame goes to this destination.
                    if (stop.IsCancellationRequested)
                    {
                        return;
                    }

                    if ((!headerSent || frame.HeaderVersion != headerVersion) && feed.Header is { } header)
                    {
                        if (!header.InitSegment.IsEmpty)
                        {
                            await socket.SendAsync(header.InitSegment, WebSocketMessageType.Binary, endOfMessage: true, abort);
                            CountSent(header.InitSegment.Length);
                        }

                        headerSent = true;
                        headerVersion = frame.HeaderVersion;
                    }

                    await socket.SendAsync(frame.Memory, WebSocketMessageType.Binary, endOfMessage: true, abort);
                    CountSent(frame.Length);
                    lock (_lock)
                    {
                        if (_lastSent > 0)
                        {
                            _drops += frame.Sequence - _lastSent - 1;
                        }

                        _carriedSkips = 0;
                        _readerSkipsCounted = skippedBefore;
                        _lastSent = frame.Sequence;
                    }
                }
            }
        }
        finally
        {
            reader.Close();
            lock (_lock)
            {
                // Skips not yet accounted stay visible until the next frame sent accounts them by sequence.
                _carriedSkips += PendingSkips();
                _reader = null;
            }

            if (feed.IsCompleted)
            {
                SwitchFeed(null);
            }
        }
    }

    /// <summary>
    /// Moves the accounting to another feed (or to none when the current one ended): whatever the old feed
    /// published after the last frame sent was never sent.
    /// </summary>
    private void SwitchFeed(Feed? feed)
    {
        lock (_lock)
        {
            if (_lastFeed is not null && _lastSent > 0)
            {
                _drops += Math.Max(0, _lastFeed.LatestSequence - _lastSent);
            }

            _carriedSkips = 0;
            _lastSent = 0;
        }

        _lastFeed = feed;
    }

    /// <summary>Under <see cref="_lock"/>: frames the current reader skipped since the last frame sent.</summary>
    private long PendingSkips() =>
        _reader is { } reader && _lastSent > 0 ? Math.Max(0, reader.SkippedFrames - _readerSkipsCounted) : 0;

    private void CountSent(int bytes)
    {
        Interlocked.Add(ref _bytesSent, bytes);
        Interlocked.Increment(ref _messagesSent);
    }

    /// <summary>Reads one whole message into <paramref name="buffer"/>; a length of -1 means it did not fit (its bytes were discarded).</summary>
    private static async ValueTask<(WebSocketMessageType Type, int Length)> ReceiveWholeAsync(WebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        var overflow = false;
        while (true)
        {
            var target = overflow ? buffer.AsMemory() : buffer.AsMemory(filled);
            var result = await socket.ReceiveAsync(target, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, 0);
            }

            if (!overflow)
            {
                filled += result.Count;
                overflow = filled == buffer.Length && !result.EndOfMessage;
            }

            if (result.EndOfMessage)
            {
                return (result.MessageType, overflow ? -1 : filled);
            }
        }
    }

    private static string DescribeClose(WebSocket socket) => socket.CloseStatus is { } status
        ? string.IsNullOrEmpty(socket.CloseStatusDescription)
            ? $" ({(int)status})"
            : $" ({(int)status} {socket.CloseStatusDescription})"
        : "";

    /// <summary>An exception and its causes in plain words, without repeating what an outer message already says.</summary>
    internal static string Describe(Exception exception)
    {
        var parts = new List<string>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            var message = e.Message.Trim().TrimEnd('.');
            if (message.Length > 0 && !parts.Exists(p => p.Contains(message, StringComparison.Ordinal)))
            {
                parts.Add(message);
            }
        }

        return parts.Count > 0 ? string.Join(": ", parts) : exception.GetType().Name;
    }

    private readonly record struct Attempt(string Reason, bool Connected, bool Stood);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Destination {Id}: connected to {Destination}, pushing {Stream}")]
        public static partial void Connected(ILogger logger, string id, string destination, string stream);

        [LoggerMessage(2, LogLevel.Information, "Destination {Id}: disconnected from {Destination} ({Reason}); reconnecting in {Seconds} s")]
        public static partial void Disconnected(ILogger logger, string id, string destination, string reason, double seconds);

        [LoggerMessage(3, LogLevel.Information, "Destination {Id}: could not connect to {Destination} ({Reason}); retrying in {Seconds} s")]
        public static partial void ConnectFailed(ILogger logger, string id, string destination, string reason, double seconds);

        [LoggerMessage(4, LogLevel.Information, "Destination {Id}: stopped pushing to {Destination}")]
        public static partial void Stopped(ILogger logger, string id, string destination);

        [LoggerMessage(5, LogLevel.Warning, "Destination {Id}: the control handler failed on a command from the relay")]
        public static partial void ControlFailed(ILogger logger, string id, Exception exception);

        [LoggerMessage(6, LogLevel.Warning, "Destination {Id}: skipped a control message longer than {Limit} bytes")]
        public static partial void ControlMessageTooLong(ILogger logger, string id, int limit);

        [LoggerMessage(7, LogLevel.Warning, "Destination {Id}: looking up stream {Stream} failed")]
        public static partial void ResolveFailed(ILogger logger, string id, string stream, Exception exception);
    }
}
