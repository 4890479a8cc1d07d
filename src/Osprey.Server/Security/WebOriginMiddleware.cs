using Microsoft.Net.Http.Headers;
using Osprey.Runtime;

namespace Osprey.Server.Security;

/// <summary>
/// What browsers need to be kept from doing on another site's behalf. A WebSocket upgrade or a state-changing
/// request whose <c>Origin</c> is neither this server nor an allowed origin loses every ambient credential (the
/// session cookie, a Basic login the browser remembers, the loopback rule): it is judged as an anonymous remote
/// client, with only a <c>?token=</c> the embedding page put in the URL on purpose. So cross-site WebSocket
/// hijacking and CSRF get nothing an anonymous stranger would not, while jsmpeg's view-stream.html, opened from
/// a file or another port as its README does, still plays an open feed. API bodies must be
/// <c>application/json</c> (no form or <c>text/plain</c> POST); CORS is deny-by-default.
/// </summary>
/// <remarks>
/// Clients that send no <c>Origin</c> (ffmpeg, vw, curl, jsmpeg's node relay clients) are not browsers and are
/// judged by their credentials alone.
/// </remarks>
public sealed partial class WebOriginMiddleware(RequestDelegate next, WebOrigins origins, ILogger<WebOriginMiddleware> logger)
{
    /// <summary>Runs the checks, then the rest of the pipeline.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers.XContentTypeOptions = "nosniff";
        var origin = request.Headers.Origin.ToString();
        var crossOrigin = origin.Length > 0 && !WebOrigins.IsSameOrigin(origin, request);
        var allowed = crossOrigin && origins.IsAllowed(origin);
        if (allowed)
        {
            response.Headers.AccessControlAllowOrigin = origin;
            response.Headers.AccessControlAllowCredentials = "true";
            response.Headers.Append(HeaderNames.Vary, "Origin");
        }

        if (HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey(HeaderNames.AccessControlRequestMethod))
        {
            if (!allowed)
            {
                await RefuseAsync(context, origin, StatusCodes.Status403Forbidden, $"Cross-origin requests from {origin} are not allowed (--allow-origin).");
                return;
            }

            response.StatusCode = StatusCodes.Status204NoContent;
            response.Headers.AccessControlAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
            response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type";
            response.Headers.AccessControlMaxAge = "600";
            return;
        }

        var changes = !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method));
        if (crossOrigin && !allowed && (changes || context.WebSockets.IsWebSocketRequest))
        {
            Log.CrossOrigin(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?", request.Method, request.Path.Value ?? "", origin.Length > 200 ? origin[..200] : origin);
            context.Features.Set(CrossSiteRequest.Instance);
        }

        if (changes && IsApi(request) && HasBody(request) && !IsJson(request))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync("The API takes application/json bodies (curl -H 'Content-Type: application/json').\n", context.RequestAborted);
            return;
        }

        await next(context);
    }

    private static bool IsApi(HttpRequest request) => request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase);

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0);

    // application/sdp (go2rtc's POST /api/webrtc) is no more a CORS-simple type than JSON: a page of another site
    // cannot send it without a preflight, which is refused unless its origin is allowed.
    private static bool IsJson(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
        && (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)
            || type.MediaType.Equals("application/sdp", StringComparison.OrdinalIgnoreCase));

    private async Task RefuseAsync(HttpContext context, string origin, int status, string message)
    {
        Log.CrossOriginRefused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?", context.Request.Method, context.Request.Path.Value ?? "", origin.Length > 200 ? origin[..200] : origin);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.AccessCrossOriginRefused, LogLevel.Information, "Refused {Remote} {Method} {Path}: cross-origin request from {Origin}")]
        public static partial void CrossOriginRefused(ILogger logger, string remote, string method, string path, string origin);

        [LoggerMessage(LogEvents.AccessCrossSite, LogLevel.Debug, "{Remote} {Method} {Path} from {Origin}: judged without ambient credentials")]
        public static partial void CrossOrigin(ILogger logger, string remote, string method, string path, string origin);
    }
}

/// <summary>Marks a request from another site's page: it carries no ambient credentials (see <see cref="WebOriginMiddleware"/>).</summary>
public sealed class CrossSiteRequest
{
    /// <summary>The one marker.</summary>
    public static readonly CrossSiteRequest Instance = new();

    private CrossSiteRequest()
    {
    }
}

/// <summary>The origins (scheme://host[:port]) besides this server's own whose pages may use it; <c>*</c> is any.</summary>
public sealed class WebOrigins
{
    private readonly HashSet<string> _allowed;
    private readonly bool _any;

    /// <summary>Allows <paramref name="origins"/> (each <c>http[s]://host[:port]</c>, or <c>*</c>).</summary>
    /// <exception cref="FormatException">An origin is not an origin.</exception>
    public WebOrigins(IEnumerable<string> origins)
    {
        _allowed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var origin in origins)
        {
            if (origin == "*")
            {
                _any = true;
                continue;
            }

            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/" || uri.Query.Length > 0)
            {
                throw new FormatException($"--allow-origin '{origin}': expected an origin such as https://example.org or http://host:8080.");
            }

            _allowed.Add(uri.GetLeftPart(UriPartial.Authority));
        }
    }

    /// <summary>True when a page of <paramref name="origin"/> may use this server.</summary>
    public bool IsAllowed(string origin) =>
        _any || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && _allowed.Contains(uri.GetLeftPart(UriPartial.Authority)));

    /// <summary>True when <paramref name="origin"/> is the authority the request was sent to (its Host).</summary>
    public static bool IsSameOrigin(string origin, HttpRequest request)
    {
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !request.Host.HasValue)
        {
            return false;
        }

        var host = request.Host;
        var port = host.Port ?? (request.IsHttps ? 443 : 80);
        return uri.Host.Trim('[', ']').Equals(host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase) && uri.Port == port;
    }
}
