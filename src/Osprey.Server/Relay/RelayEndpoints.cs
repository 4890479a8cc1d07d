using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Relay;
using Osprey.Server.Viewers;
using Osprey.Sources.MpegTs;
using Osprey.Streams;

namespace Osprey.Server.Relay;

/// <summary>
/// The relay role (crossbar's, in the same executable): <c>/in/{name}</c> takes a pushed MPEG-TS stream into
/// feed <c>{name}</c>, <c>/out/{name}</c> serves it to any number of viewers, and a WebSocket on any other
/// unrouted path joins that path's N:N topic. Also vw's local control socket <c>/ws/api</c>.
/// </summary>
internal static partial class RelayEndpoints
{
    private static readonly TimeSpan s_keepAlive = TimeSpan.FromSeconds(30);

    public static void MapRelayEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var relayLogger = loggers.CreateLogger("Osprey.Relay");
        var viewerLogger = loggers.CreateLogger("Osprey.Viewers");

        app.Map("/in/{**name}", (HttpContext context, string name) => ReceivePushAsync(context, registry, name, relayLogger, lifetime.ApplicationStopping));

        app.Map("/out/{**name}", async (HttpContext context, string name) =>
        {
            var feed = Resolve(registry, streams, name);
            if (feed is null)
            {
                await WriteTextAsync(context, StatusCodes.Status404NotFound, $"Nothing is pushed to '{name}' yet: a publisher sends to /in/{name} (or /ts/{name}).");
                return;
            }

            await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping, ViewerFraming.Stream);
        });
    }

    /// <summary>The feed a viewer of <paramref name="name"/> reads: a vw stream of that name, else the feed.</summary>
    public static Feed? Resolve(FeedRegistry registry, StreamRegistry streams, string name) =>
        streams.TryGetStream(name, out var stream) ? stream.Output
        : registry.TryGet(name, out var feed) ? feed
        : null;

    /// <summary>Accepts a WebSocket with the subprotocol rules of <see cref="WebSocketUpgrade.ChooseSubprotocol"/> (jsmpeg's <c>null</c>).</summary>
    public static Task<WebSocket> AcceptAsync(HttpContext context) =>
        context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = WebSocketUpgrade.ChooseSubprotocol(context.Request.Headers.SecWebSocketProtocol),
            DangerousEnableCompression = false,
            KeepAliveInterval = s_keepAlive,
        });

    /// <summary>A WebSocket on an unrouted path: crossbar's N:N topic for that path.</summary>
    public static async Task ServeTopicAsync(HttpContext context, RelayHub hub, CancellationToken stopping)
    {
        using var socket = await AcceptAsync(context);
        var topic = "/" + context.Request.Path.Value!.Trim('/');
        await hub.ServeAsync(socket, topic, stopping);
    }

    /// <summary>vw's local WS/JSON control API: each text command gets its reply.</summary>
    public static async Task ServeControlAsync(HttpContext context, VwControlApi api, CancellationToken stopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await WriteTextAsync(context, StatusCodes.Status426UpgradeRequired, "The control API speaks WebSocket: send vw's JSON commands as text messages.");
            return;
        }

        using var socket = await AcceptAsync(context);
        var buffer = new ArrayBufferWriter<byte>(1024);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var result = await socket.ReceiveAsync(buffer.GetMemory(4096), stopping);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", stopping);
                    break;
                }

                buffer.Advance(result.Count);
                if (buffer.WrittenCount > 64 * 1024)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, "commands are small", stopping);
                    break;
                }

                if (!result.EndOfMessage)
                {
                    continue;
                }

                var reply = api.Handle(Encoding.UTF8.GetString(buffer.WrittenSpan));
                buffer.ResetWrittenCount();
                await socket.SendAsync(Encoding.UTF8.GetBytes(reply), WebSocketMessageType.Text, endOfMessage: true, stopping);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }

    private static async Task ReceivePushAsync(HttpContext context, FeedRegistry registry, string name, ILogger logger, CancellationToken stopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await WriteTextAsync(context, StatusCodes.Status426UpgradeRequired, $"/in/{name} takes a pushed stream over WebSocket (vw destinations push here).");
            return;
        }

        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        using var claim = registry.TryClaimPublisher(name, new VideoInfo(MediaFormat.MpegTs, 0, 0, 0), remote, out var error, out var conflict);
        if (claim is null)
        {
            Log.PushRefused(logger, name, remote, error ?? "");
            await WriteTextAsync(context, conflict ? StatusCodes.Status409Conflict : StatusCodes.Status404NotFound, error ?? "refused");
            return;
        }

        using var socket = await AcceptAsync(context);
        Log.PushConnected(logger, name, remote);
        var writer = new MpegTsFeedWriter(claim.Feed);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var reason = "the pusher closed";
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), stopping);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", stopping);
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
            reason = stopping.IsCancellationRequested ? "the server is stopping" : ex.Message;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Log.PushEnded(logger, name, remote, reason, writer.Chunker.Bytes, writer.Chunks);
    }

    private static async Task WriteTextAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n");
    }

    private static partial class Log
    {
        [LoggerMessage(700, LogLevel.Information, "Relay: {Remote} pushes to feed {Feed}")]
        public static partial void PushConnected(ILogger logger, string feed, string remote);

        [LoggerMessage(701, LogLevel.Information, "Relay: push of {Remote} to feed {Feed} ended: {Reason}; {Bytes} bytes in {Chunks} chunks")]
        public static partial void PushEnded(ILogger logger, string feed, string remote, string reason, long bytes, long chunks);

        [LoggerMessage(702, LogLevel.Warning, "Relay: refused a push of {Remote} to {Feed}: {Error}")]
        public static partial void PushRefused(ILogger logger, string feed, string remote, string error);
    }
}
