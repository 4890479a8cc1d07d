using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Net.Http.Headers;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Page;

/// <summary>
/// Serves the page and its scripts from resources embedded in the executable (wwwroot/**, and jsmpeg under
/// wwwroot/vendor/jsmpeg/, added at build time by Vendor.targets), so that the single file needs nothing beside
/// it. Read once at start-up; each file's ETag (and a page's policy) is computed when it is first served, so that
/// start-up hashes nothing and loads no OpenSSL. Pages carry a Content-Security-Policy that allows their own
/// inline scripts by hash (the seed pages keep theirs unchanged) and nothing from elsewhere.
/// </summary>
internal static partial class EmbeddedAssets
{
    private static readonly FrozenDictionary<string, string> s_contentTypes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".mjs"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
        [".wasm"] = "application/wasm",
        [".txt"] = "text/plain; charset=utf-8",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Maps the page. A WebSocket request is not a page request: at <c>/</c> it is a jsmpeg viewer (view-stream.html
    /// connects to the root) handed to <paramref name="rootWebSocket"/>, on any other unrouted path it joins that
    /// path's relay topic through <paramref name="otherWebSocket"/>.
    /// </summary>
    /// <remarks>
    /// The page's files are open to anyone (they are code, not pictures); the WebSockets need what
    /// <paramref name="rootWebSocketAccess"/> says, and a relay topic needs read and publish on its path.
    /// </remarks>
    public static void MapEmbeddedAssets(this WebApplication app, RequestDelegate rootWebSocket, Func<HttpContext, AccessRequirement> rootWebSocketAccess, RequestDelegate otherWebSocket)
    {
        var assets = Load();
        app.MapGet("/", context => context.WebSockets.IsWebSocketRequest ? rootWebSocket(context) : ServeAsync(context, assets, "index.html"))
            .Requires(context => context.WebSockets.IsWebSocketRequest ? rootWebSocketAccess(context) : null);
        // One feed's player page; the feed's name is read from the path by the page's script (watch.js).
        app.MapGet("/watch/{**feed}", context => ServeAsync(context, assets, "watch.html")).AllowEveryone();
        app.MapGet("/{**file}", (HttpContext context, string file) =>
            context.WebSockets.IsWebSocketRequest && !assets.ContainsKey(file) ? otherWebSocket(context) : ServeAsync(context, assets, file))
            .Requires(context => context.WebSockets.IsWebSocketRequest && !assets.ContainsKey(context.Request.RouteValues["file"] as string ?? "")
                ? new AccessRequirement(OspreyAction.Read | OspreyAction.Publish, context.Request.Path.Value ?? "")
                : null);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith("wwwroot/", StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            var path = resource["wwwroot/".Length..];
            // Names without an extension are licence texts (vendor/jsmpeg/LICENSE).
            var extension = Path.GetExtension(path);
            var contentType = extension.Length == 0
                ? "text/plain; charset=utf-8"
                : s_contentTypes.GetValueOrDefault(extension, "application/octet-stream");
            assets[path] = new Asset(bytes, contentType, extension == ".html");
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static async Task ServeAsync(HttpContext context, FrozenDictionary<string, Asset> assets, string path)
    {
        if (!assets.TryGetValue(path, out var asset))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"Not found: /{path}. The page is at /, the feed list at /api/feeds.\n");
            return;
        }

        var headers = context.Response.Headers;
        var (etag, policy) = asset.Headers;
        headers.ETag = etag;
        headers.CacheControl = "no-cache"; // revalidate with the ETag: a new build shows at once
        if (context.Request.Headers.IfNoneMatch == etag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        context.Response.ContentType = asset.ContentType;
        context.Response.ContentLength = asset.Bytes.Length;
        headers[HeaderNames.XContentTypeOptions] = "nosniff";
        if (policy is not null)
        {
            headers.ContentSecurityPolicy = policy;
            headers.XFrameOptions = "SAMEORIGIN";
            headers["Referrer-Policy"] = "no-referrer";
        }

        await context.Response.Body.WriteAsync(asset.Bytes);
    }

    /// <summary>
    /// Scripts, styles, pictures and sockets from this server only; inline scripts by their SHA-256 (computed here,
    /// so that a page's script can change without a hand-kept list); framed only by this server's own pages.
    /// </summary>
    private static string ContentSecurityPolicy(byte[] html)
    {
        var hashes = new StringBuilder();
        foreach (Match script in InlineScript().Matches(Encoding.UTF8.GetString(html)))
        {
            var hash = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script.Groups["body"].Value)));
            hashes.Append(" 'sha256-").Append(hash).Append('\'');
        }

        return "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'" + hashes + "; style-src 'self' 'unsafe-inline'; "
            + "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; "
            + "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'";
    }

    [GeneratedRegex("<script(?![^>]*\\ssrc=)[^>]*>(?<body>.*?)</script>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    private sealed class Asset(byte[] bytes, string contentType, bool isPage)
    {
        private readonly Lazy<(string ETag, string? Policy)> _headers = new(() => (
            $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8))}\"",
            isPage ? ContentSecurityPolicy(bytes) : null));

        public byte[] Bytes => bytes;

        public string ContentType => contentType;

        /// <summary>The ETag (the first 8 bytes of the SHA-256) and, for a page, its Content-Security-Policy.</summary>
        public (string ETag, string? Policy) Headers => _headers.Value;
    }
}
