using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Routing;

/// <summary>
/// A data destination's sending side for one connection after another: resolves the rule's stream to a feed,
/// sends its stream header and frames as binary messages, and accounts every frame sent or lost.
/// </summary>
/// <remarks>
/// Ownership: the feed reader lives only while a connection pushes, so nothing queues for a relay that is down.
/// Runs on the client's run loop only; its counters are read from any thread.
/// </remarks>
internal sealed partial class DestinationPushLoop(
    DestinationRule rule,
    Func<string, Feed?> resolveFeed,
    ILogger logger,
    TimeProvider time,
    DestinationSettings settings,
    DeliveryCounters counters)
{
    private bool _resolveFailureLogged;
    private long _sendTimeouts;

    /// <summary>Connections ended because a send took longer than the send timeout.</summary>
    public long SendTimeouts => Interlocked.Read(ref _sendTimeouts);

    /// <summary>Pushes whichever feed the stream's name resolves to, re-resolving when there is none or it ends.</summary>
    public async Task PushAsync(WebSocket socket, CancellationToken stop, CancellationToken session, CancellationToken abort)
    {
        while (!session.IsCancellationRequested && !stop.IsCancellationRequested)
        {
            var feed = Resolve();
            if (feed is null || feed.IsCompleted)
            {
                // Streams come and go while their destination stays: keep the connection and look again.
                await Task.Delay(DestinationRegistry.ResolveInterval, time, session);
                continue;
            }

            await PushFeedAsync(socket, feed, stop, session, abort);
        }
    }

    private Feed? Resolve()
    {
        try
        {
            var feed = resolveFeed(rule.Stream);
            _resolveFailureLogged = false;
            return feed;
        }
        catch (Exception ex)
        {
            if (!_resolveFailureLogged)
            {
                _resolveFailureLogged = true;
                Log.ResolveFailed(logger, rule.Id, rule.Stream, ex);
            }

            return null;
        }
    }

    /// <summary>Sends one feed's frames, each as one binary message, until the feed ends or the session does.</summary>
    private async Task PushFeedAsync(WebSocket socket, Feed feed, CancellationToken stop, CancellationToken session, CancellationToken abort)
    {
        // Bounded in bytes as well as frames: a raw feed's 2,048 frames would be a gigabyte for a relay that stops reading.
        var reader = feed.OpenOrderedReader(settings.QueueCapacity, maxBytes: settings.QueueBytes);
        using var closeReader = session.UnsafeRegister(static state => ((OrderedFeedReader)state!).Close(), reader);
        // Armed for each send: a relay that takes nothing for the send timeout is let go (and dialled again) instead of
        // holding the connection, and the frames queued for it, for ever.
        using var stalled = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        using var sendToken = CancellationTokenSource.CreateLinkedTokenSource(abort, stalled.Token);
        counters.Attach(feed, reader);
        // A new reader is a new connection or a new feed: the relay must be sent the header again.
        var headerGate = default(StreamHeaderGate);
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
                    if (counters.WasSent(frame))
                    {
                        // Resume after what the relay already has rather than send its viewers frames twice.
                        continue;
                    }

                    // Checked on the stop token itself (a linked token is told later): once Set or Remove has
                    // returned, not one more frame goes to this destination.
                    if (stop.IsCancellationRequested)
                    {
                        return;
                    }

                    // MPEG-TS describes itself: whichever header the feed has now serves, and a feed without one
                    // (jsmpeg's) is pushed without.
                    if (headerGate.Pending(feed, frame, anyVersion: true) is { } header)
                    {
                        if (!header.InitSegment.IsEmpty)
                        {
                            await SendAsync(socket, header.InitSegment, stalled, sendToken.Token);
                            counters.CountSent(header.InitSegment.Length);
                        }

                        headerGate.MarkApplied(frame);
                    }

                    await SendAsync(socket, frame.Memory, stalled, sendToken.Token);
                    counters.Sent(frame, skippedBefore);
                }
            }
        }
        finally
        {
            reader.Close();
            counters.Detach(feed);
        }
    }

    private async Task SendAsync(WebSocket socket, ReadOnlyMemory<byte> message, CancellationTokenSource stalled, CancellationToken token)
    {
        if (settings.SendTimeout > TimeSpan.Zero)
        {
            stalled.CancelAfter(settings.SendTimeout);
        }

        try
        {
            await socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, token);
        }
        catch (OperationCanceledException) when (stalled.IsCancellationRequested)
        {
            Interlocked.Increment(ref _sendTimeouts);
            throw new DestinationSendTimeoutException($"the relay took nothing for {settings.SendTimeout.TotalSeconds:0.#} s (send timeout)");
        }

        stalled.CancelAfter(Timeout.InfiniteTimeSpan);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.DestinationResolveFailed, LogLevel.Warning, "Destination {Id}: looking up stream {Stream} failed")]
        public static partial void ResolveFailed(ILogger logger, string id, string stream, Exception exception);
    }
}

/// <summary>A send the relay did not take within the send timeout; its message is ours.</summary>
internal sealed class DestinationSendTimeoutException(string message) : IOException(message);
