using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// The server side of the RFC 6455 opening handshake, done on Kestrel's upgrade feature rather than through
/// the WebSockets middleware, because Osprey writes frames itself (see <see cref="WebSocketFrameViewer"/>).
/// </summary>
internal static class WebSocketUpgrade
{
    /// <summary>
    /// Checks that the request is a WebSocket opening handshake; when it is not, writes a clear error response
    /// and returns false.
    /// </summary>
    public static async Task<bool> ValidateAsync(HttpContext context)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var headers = context.Request.Headers;
        string? problem = null;
        if (IsExtendedConnect(context))
        {
            // RFC 8441 over HTTP/2: no Upgrade header and no key (the stream itself is the proof), the version still.
            if (headers.SecWebSocketVersion != "13")
            {
                context.Response.Headers.SecWebSocketVersion = "13";
                problem = "Unsupported Sec-WebSocket-Version; this server speaks version 13 (RFC 6455).";
            }
        }
        else if (upgrade is null || !upgrade.IsUpgradableRequest || !HttpMethods.IsGet(context.Request.Method) ||
            !headers.Upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase))
        {
            problem = "This endpoint streams over WebSocket; connect with a WebSocket client (ws://).";
        }
        else if (headers.SecWebSocketVersion != "13")
        {
            context.Response.Headers.SecWebSocketVersion = "13";
            problem = "Unsupported Sec-WebSocket-Version; this server speaks version 13 (RFC 6455).";
        }
        else if (!WebSocketFrames.IsValidKey(headers.SecWebSocketKey))
        {
            problem = "Missing or malformed Sec-WebSocket-Key.";
        }

        if (problem is null)
        {
            return true;
        }

        context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
        context.Response.Headers.Upgrade = "websocket";
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(problem + "\n", context.RequestAborted);
        return false;
    }

    /// <summary>
    /// Sends the 101 response (200 on an HTTP/2 extended CONNECT) and returns the connection's stream. The subprotocol echoed is <c>null</c> when
    /// offered (old jsmpeg builds offer it and Chrome then requires an echo), else the first one offered.
    /// </summary>
    public static Task<Stream> AcceptAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        var response = context.Response;
        var protocol = ChooseSubprotocol(headers.SecWebSocketProtocol);
        if (protocol is not null)
        {
            response.Headers.SecWebSocketProtocol = protocol;
        }

        if (IsExtendedConnect(context))
        {
            // The WebSocket is this HTTP/2 stream's body: no body limit or minimum rate may end a long-lived viewer
            // or a relay push, as none ends an HTTP/1.1 upgraded connection.
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = null;
            }

            if (context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
            {
                rate.MinDataRate = null;
            }

            // 200 with the subprotocol and no Sec-WebSocket-Accept (RFC 8441 section 5).
            return context.Features.Get<IHttpExtendedConnectFeature>()!.AcceptAsync().AsTask();
        }

        response.Headers.Upgrade = "websocket";
        response.Headers.SecWebSocketAccept = WebSocketFrames.ComputeAccept(headers.SecWebSocketKey.ToString());
        return context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync();
    }

    /// <summary>True for a WebSocket opened on an HTTP/2 stream (RFC 8441 extended CONNECT with <c>:protocol websocket</c>).</summary>
    public static bool IsExtendedConnect(HttpContext context) => Http.ExtendedConnect.IsWebSocket(context);

    internal static string? ChooseSubprotocol(StringValues offered)
    {
        string? first = null;
        foreach (var value in offered)
        {
            foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (part == "null")
                {
                    return part;
                }

                first ??= part;
            }
        }

        return first;
    }

    private static readonly TimeSpan s_keepAlive = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Accepts a WebSocket for the endpoints that exchange messages rather than stream frames (relay pushes,
    /// topics, the control API): .NET's WebSocket over the upgraded stream, with the subprotocol rules of
    /// <see cref="ChooseSubprotocol"/> (jsmpeg's <c>null</c>) and every client frame header checked as it
    /// arrives (<see cref="GuardedClientStream"/>): an unmasked frame is closed with 1002 at once (.NET's socket
    /// would wait for its mask for ever), a frame over <paramref name="maxFrameBytes"/> with 1009 before it is read.
    /// </summary>
    public static async Task<System.Net.WebSockets.WebSocket> AcceptMessageSocketAsync(HttpContext context, long maxFrameBytes = long.MaxValue) =>
        (await AcceptGuardedAsync(context, maxFrameBytes)).Socket;

    /// <summary>
    /// As <see cref="AcceptMessageSocketAsync"/>, with the guarded stream too: its <see cref="GuardedClientStream.LastReadTicks"/>
    /// says when the client last sent anything, pings included, which the WebSocket itself never shows.
    /// </summary>
    public static async Task<(System.Net.WebSockets.WebSocket Socket, GuardedClientStream Stream)> AcceptGuardedAsync(HttpContext context, long maxFrameBytes)
    {
        var protocol = ChooseSubprotocol(context.Request.Headers.SecWebSocketProtocol);
        var stream = new GuardedClientStream(await AcceptAsync(context), new ClientFrameGuard(maxFrameBytes), context.Abort);
        var socket = System.Net.WebSockets.WebSocket.CreateFromStream(stream, new System.Net.WebSockets.WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = protocol,
            KeepAliveInterval = s_keepAlive,
        });
        return (socket, stream);
    }
}
