namespace Osprey.Server.Http;

/// <summary>
/// Answers HEAD on every GET route (health checks such as <c>wget --spider</c> and <c>curl -I</c> use it).
/// </summary>
/// <remarks>
/// The request is routed as a GET; Kestrel still knows the request line said HEAD and discards whatever a handler
/// writes to the response body, so each GET handler answers HEAD with the same status and headers for free. Only
/// handlers that write past Kestrel, straight to the socket (MJPEG), or that never end (streams) must ask
/// <see cref="IsHead"/> and stop after the head.
/// </remarks>
internal static class HeadRequests
{
    private static readonly object s_headKey = new();

    /// <summary>Routes HEAD requests as GET, remembering that they were HEAD.</summary>
    public static IApplicationBuilder UseHeadAsGet(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (HttpMethods.IsHead(context.Request.Method))
        {
            context.Items[s_headKey] = true;
            context.Request.Method = HttpMethods.Get;
        }

        return next(context);
    });

    /// <summary>True when the client asked for the head only.</summary>
    public static bool IsHead(HttpContext context) => context.Items.ContainsKey(s_headKey);
}
