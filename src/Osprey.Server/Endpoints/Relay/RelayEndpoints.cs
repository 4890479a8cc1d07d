using System.Buffers;
using System.Net.WebSockets;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Relay;
using Osprey.Routing;
using Osprey.Runtime;
using Osprey.Server.Outputs;
using Osprey.Server.Outputs.WebSockets;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Relay;

/// <summary>
/// The relay role (crossbar's, in the same executable): <c>/in/{name}</c> takes a pushed MPEG-TS stream into
/// feed <c>{name}</c>, <c>/out/{name}</c> serves it to any number of viewers, and a WebSocket on any other
/// unrouted path joins that path's N:N topic.
/// </summary>
internal static partial class RelayEndpoints
{
    public static void MapRelayEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var relayLogger = loggers.CreateLogger("Osprey.Relay");
        var viewerLogger = loggers.CreateLogger("Osprey.Viewers");

        app.Map("/in/{**name}", (HttpContext context, string name) => ReceivePushAsync(context, registry, name, relayLogger, lifetime.ApplicationStopping))
            .Requires(OspreyAction.Publish, AccessRuleExtensions.RouteValue("name"));

        app.Map("/out/{**name}", async (HttpContext context, string name) =>
        {
            var feed = streams.ResolveFeedOrStream(name);
            if (feed is null)
            {
                await PlainText.WriteAsync(context, StatusCodes.Status404NotFound, $"Nothing is pushed to '{name}' yet: a publisher sends to /in/{name} (or /ts/{name}).");
                return;
            }

            await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping, ViewerFraming.Stream, OutputProtocol.Relay);
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("name"));
    }

    /// <summary>A WebSocket on an unrouted path: crossbar's N:N topic for that path.</summary>
    public static async Task ServeTopicAsync(HttpContext context, RelayHub hub, CancellationToken stopping)
    {
        var topic = "/" + context.Request.Path.Value!.Trim('/');
        if (hub.CheckJoin(topic) is { } refusal)
        {
            await PlainText.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, refusal);
            return;
        }

        var (socket, stream) = await WebSocketUpgrade.AcceptGuardedAsync(context, RelayHub.MaxMessageBytes);
        using var _ = socket;
        await hub.ServeAsync(socket, topic, stopping, () => stream.LastReadTicks);
    }

    private static async Task ReceivePushAsync(HttpContext context, FeedRegistry registry, string name, ILogger logger, CancellationToken stopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await PlainText.WriteAsync(context, StatusCodes.Status426UpgradeRequired, $"/in/{name} takes a pushed stream over WebSocket (vw destinations push here).");
            return;
        }

        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        using var claim = registry.TryClaimPublisher(name, new VideoInfo(MediaFormat.MpegTs, 0, 0, 0), remote, out var error, out var refusal);
        if (claim is null)
        {
            Log.PushRefused(logger, name, remote, error ?? "");
            await PlainText.WriteAsync(context, Refusals.StatusOf(refusal), error ?? "refused");
            return;
        }

        using var socket = await WebSocketUpgrade.AcceptMessageSocketAsync(context);
        Log.PushConnected(logger, name, remote);
        var writer = new MpegTsFeedWriter(claim.Feed);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var reason = "the pusher closed";
        // As the HTTP ingest: first bytes within the first-bytes timeout, then no silence past the idle timeout.
        using var silence = new CancellationTokenSource();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(stopping, claim.Revoked, silence.Token);
        var received = false;
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                silence.CancelAfter(received ? registry.PublisherIdleTimeout : registry.PublisherFirstBytesTimeout);
                var result = await socket.ReceiveAsync(buffer.AsMemory(), abort.Token);
                received |= result.Count > 0;
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", abort.Token);
                    break;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    writer.Write(buffer.AsSpan(0, result.Count));
                    if (result.EndOfMessage)
                    {
                        writer.Flush();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // A cancelled receive aborts the socket: the pusher is disconnected and the claim released below.
            reason = stopping.IsCancellationRequested ? "the server is stopping"
                : claim.IsRevoked ? "another publisher took the feed over"
                : silence.IsCancellationRequested ? Refusals.Silent(received, registry)
                : ex.Message;
            if (silence.IsCancellationRequested && !claim.IsRevoked && !stopping.IsCancellationRequested)
            {
                registry.CountPublisherTimeout();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Log.PushEnded(logger, name, remote, reason, writer.Chunker.Bytes, writer.Chunks);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.RelayPushPushConnected, LogLevel.Information, "Relay: {Remote} pushes to feed {Feed}")]
        public static partial void PushConnected(ILogger logger, string feed, string remote);

        [LoggerMessage(LogEvents.RelayPushPushEnded, LogLevel.Information, "Relay: push of {Remote} to feed {Feed} ended: {Reason}; {Bytes} bytes in {Chunks} chunks")]
        public static partial void PushEnded(ILogger logger, string feed, string remote, string reason, long bytes, long chunks);

        [LoggerMessage(LogEvents.RelayPushPushRefused, LogLevel.Warning, "Relay: refused a push of {Remote} to {Feed}: {Error}")]
        public static partial void PushRefused(ILogger logger, string feed, string remote, string error);
    }
}
