using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Osprey.Server.Endpoints.Page;

/// <summary>
/// Serves the page and its scripts from resources embedded in the executable (wwwroot/**, and jsmpeg under
/// wwwroot/vendor/jsmpeg/, added at build time by Vendor.targets), so that the single file needs nothing beside
/// it. Loaded once at start-up, with an ETag each.
/// </summary>
internal static class EmbeddedAssets
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
    public static void MapEmbeddedAssets(this WebApplication app, RequestDelegate rootWebSocket, RequestDelegate otherWebSocket)
    {
        var assets = Load();
        app.MapGet("/", context => context.WebSockets.IsWebSocketRequest ? rootWebSocket(context) : ServeAsync(context, assets, "index.html"));
        app.MapGet("/{**file}", (HttpContext context, string file) =>
            context.WebSockets.IsWebSocketRequest && !assets.ContainsKey(file) ? otherWebSocket(context) : ServeAsync(context, assets, file));
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
            var etag = $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8))}\"";
            assets[path] = new Asset(bytes, contentType, etag);
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
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache"; // revalidate with the ETag: a new build shows at once
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        context.Response.ContentType = asset.ContentType;
        context.Response.ContentLength = asset.Bytes.Length;
        headers[HeaderNames.XContentTypeOptions] = "nosniff";
        await context.Response.Body.WriteAsync(asset.Bytes);
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
