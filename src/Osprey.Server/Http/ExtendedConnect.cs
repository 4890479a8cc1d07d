using Microsoft.AspNetCore.Http.Features;

namespace Osprey.Server.Http;

/// <summary>
/// WebSockets over HTTP/2 (RFC 8441): a browser that has an HTTP/2 connection to Osprey opens <c>wss://</c> on it as
/// a CONNECT request with <c>:protocol websocket</c>, where HTTP/1.1 sends a GET with <c>Upgrade: websocket</c>.
/// </summary>
internal static class ExtendedConnect
{
    /// <summary>True for a WebSocket opened on an HTTP/2 stream.</summary>
    public static bool IsWebSocket(HttpContext context) =>
        context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect &&
        string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase);

    private static readonly object s_connectKey = new();

    /// <summary>
    /// Routes an HTTP/2 WebSocket CONNECT as the GET it stands for, so that every WebSocket route (mapped for GET,
    /// as HTTP/1.1 needs) serves it and no CONNECT lands on routing's 405 endpoint, which has no access rule.
    /// <see cref="UseExtendedConnectRestored"/> must follow routing.
    /// </summary>
    public static IApplicationBuilder UseExtendedConnectAsGet(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (HttpMethods.IsConnect(context.Request.Method) && IsWebSocket(context))
        {
            context.Items[s_connectKey] = true;
            context.Request.Method = HttpMethods.Get;
        }

        return next(context);
    });

    /// <summary>
    /// Gives the request its CONNECT back once routing chose the endpoint: ASP.NET's <c>IsWebSocketRequest</c>
    /// recognises an HTTP/2 WebSocket only by that method.
    /// </summary>
    public static IApplicationBuilder UseExtendedConnectRestored(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.Items.Remove(s_connectKey))
        {
            context.Request.Method = HttpMethods.Connect;
        }

        return next(context);
    });
}
