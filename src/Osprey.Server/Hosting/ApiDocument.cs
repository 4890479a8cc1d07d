using Microsoft.OpenApi;
using Osprey.Server.Security;
using Scalar.AspNetCore;

namespace Osprey.Server.Hosting;

/// <summary>
/// <c>/openapi/v1.json</c> (Microsoft.AspNetCore.OpenApi) and its reference page at <c>/docs</c> (Scalar), both public.
/// </summary>
/// <remarks>
/// Most of Osprey's routes are <c>app.Map(pattern, RequestDelegate)</c>: WebSocket upgrades and endless streams that
/// ASP.NET's API explorer does not list. A document transformer therefore adds every routed endpoint the explorer
/// left out and gives each operation its summary, description and tag from <see cref="s_routes"/>, one table so
/// that a new route without words fails <c>OpenApiDocumentTests</c> rather than going undocumented.
/// </remarks>
internal static class ApiDocument
{
    /// <summary>The document's path.</summary>
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>How <see cref="s_routes"/> names a route of the go2rtc port, whose paths may be another surface's too.</summary>
    private const string Go2rtcPrefix = "go2rtc ";

    /// <summary>The reference page's path.</summary>
    public const string PagePath = "/docs";

    /// <summary>Route pattern (as mapped) → tag, summary, description, and the method to list for routes that take any.</summary>
    private static readonly Dictionary<string, (string Tag, string Summary, string Description, string AnyMethodAs)> s_routes = new(StringComparer.Ordinal)
    {
        ["/ws/{**path}"] = ("viewers", "A feed's viewer WebSocket", "`/ws/{feed}/raw`, `/jpeg`, `/mp4` (fMP4 for MSE), `/h264` (WebCodecs) or `/ts`; `/ws/{feed-or-stream}` (vw) sends the native bytes. WebSocket upgrade only; 404 for an unknown feed, 503 past the viewer caps.", "GET"),
        ["/eyetoy"] = ("viewers", "The first feed's raw frames (the uWSGI article's page)", "WebSocket upgrade; one binary message per raw frame.", "GET"),
        ["/video_websocket"] = ("viewers", "The first feed as BerryMSE fragments", "WebSocket upgrade, BerryMSE's layout (Ch3ri0ur's fork's path).", "GET"),
        ["/websocket"] = ("viewers", "The first feed as BerryMSE fragments", "WebSocket upgrade, BerryMSE's layout (thinkski's path).", "GET"),
        ["/mjpeg/{**name}"] = ("viewers", "A feed as MJPEG", "`multipart/x-mixed-replace` JPEG parts until the client leaves.", "GET"),
        ["/snapshot/{**file}"] = ("viewers", "One JPEG of a feed", "`/snapshot/{feed}.jpg`: the next JPEG (waits up to 5 s). `?max-age=s` (up to 10) serves the last one again if it is younger: thumbnails cost one encode a second whatever their number.", "GET"),
        ["/{feed}/whep"] = ("viewers", "Play a feed over WebRTC (WHEP)", "POST an SDP offer (`application/sdp`, RFC 9725): 201 with the answer (ICE-lite, every candidate, no trickle needed) and the session's URL in `Location`; OPTIONS says what the resource takes. 400 for an offer without H.264 in packetization mode 1, 503 when WebRTC is off or full.", "POST"),
        ["/{feed}/whep/{session}"] = ("viewers", "A WebRTC (WHEP) session", "DELETE ends it; PATCH (`application/trickle-ice-sdpfrag`) takes trickled candidates (204) and refuses an ICE restart (405).", "DELETE"),
        ["/hls/{**path}"] = ("viewers", "A feed as HLS and Low-Latency HLS", "`/hls/{feed}/index.m3u8` (multivariant), `media.m3u8` (LL-HLS: `_HLS_msn`, `_HLS_part` block until that part exists, 400 outside the window, 503 after three target durations; `_HLS_skip=YES` for a delta update), `plain.m3u8` (no LL tags), `init-*.mp4`, `{msn}.m4s` segments and `{msn}.{part}.m4s` parts (immutable; the preload-hinted part blocks until complete). Cacheable by any HTTP cache: blocking playlists `max-age=1` and byte-identical per URL.", "GET"),
        ["/api/hls"] = ("viewers", "The running HLS streams", "Each feed's HLS stream: window, parts and segments made, and the requests answered by kind (what an edge cache's coalescing shows).", "GET"),
        ["/api/feeds"] = ("feeds", "The feeds the client may read", "Every feed with its format, size, rates, viewers, state, counters and the URLs of its outputs.", "GET"),
        ["/api/feeds/{**name}"] = ("feeds", "One feed", "`GET /api/feeds/{feed}`: the feed as in the list; `POST /api/feeds/{feed}/restart` restarts its source (202).", "GET"),
        ["/api/feeds/{**path}"] = ("feeds", "Restart a feed's source", "`POST /api/feeds/{feed}/restart`: 202 with the feed; 404 for another action or a feed without a source.", "POST"),
        ["/api/feeds/{feed}/controls"] = ("feeds", "A V4L2 feed's controls", "The camera's controls with their ranges and values.", "GET"),
        ["/api/feeds/{feed}/controls/{name}"] = ("feeds", "Set a V4L2 control", "Body: the value as JSON.", "PUT"),
        ["/healthz"] = ("server", "Health", "Feeds, uptime, open and refused connections.", "GET"),
        ["/healthcheck"] = ("vw", "vw's health check", "The JSON string \"ok\".", "GET"),
        ["/metrics"] = ("server", "Prometheus metrics", "The `Osprey` meter in the Prometheus text format; needs the metrics action (local clients have it by default).", "GET"),
        ["/ts/{**feed}"] = ("ingest", "Publish MPEG-TS into a feed", "An endless POST body (ffmpeg `-f mpegts`); 409 when the feed has a publisher.", "POST"),
        ["/in/{**name}"] = ("relay", "Push MPEG-TS into a relay feed", "WebSocket upgrade; each binary message is MPEG-TS.", "GET"),
        ["/out/{**name}"] = ("relay", "Read a relay feed", "WebSocket upgrade; MPEG-TS chunks in order.", "GET"),
        ["/api/relay"] = ("relay", "The relay's state", "Feeds, publishers, streams, destinations, topics and the limits' refusals.", "GET"),
        ["/ws/api"] = ("vw", "vw's WS/JSON control API", "WebSocket upgrade; text messages with vw's verbs.", "GET"),
        ["/api/streams"] = ("vw", "Add or change a stream", "vw's body `{\"name\": ..., \"feeds\": [...]}`.", "POST"),
        ["/api/streams/{**stream}"] = ("vw", "A stream, or all", "`/api/streams/all` lists them; DELETE removes one.", "GET"),
        ["/api/destinations"] = ("vw", "Add or change a destination", "vw's body `{\"id\", \"stream\", \"destination\", \"token\"}`.", "POST"),
        ["/api/destinations/{**id}"] = ("vw", "A destination, or all", "`/api/destinations/all` lists them with their state; DELETE removes one.", "GET"),
        ["/api"] = ("vw", "vw's API root", "Answers vw's clients that probe it.", "GET"),
        ["/api/config/schema"] = ("sources", "The config file's JSON Schema", "The schema of `osprey.yaml` (also docs/osprey.schema.json), for editors that validate YAML.", "GET"),
        ["/api/sources"] = ("sources", "The sources, or add one", "GET lists every source with its URI, origin and feed state; POST `{\"name\", \"uri\"}` adds one, starts it and writes it to the config file (201, problem details on error).", "GET"),
        ["/api/sources/{**name}"] = ("sources", "One source: read, replace, patch or remove it", "PUT replaces the source (restarting it alone), PATCH changes its URI, DELETE stops and removes it; each change is written back to the config file, comments kept.", "GET"),
        ["/api/sources/{name}/restart"] = ("sources", "Restart a source", "Stops and starts the source's capture; its viewers stay connected (202).", "POST"),
        ["/api/auth/me"] = ("auth", "Who the request is", "The principal and its permissions.", "GET"),
        ["/api/auth/login"] = ("auth", "Log in", "Body `{\"user\", \"password\"}`; sets the session cookie.", "POST"),
        ["/api/auth/logout"] = ("auth", "Log out", "Clears the session cookie (204).", "POST"),
        ["/api/auth/token"] = ("auth", "Make a signed token", "Body `{\"actions\", \"path\", \"seconds\"}`; a token no wider than its owner.", "POST"),
        ["/"] = ("page", "The dashboard", "index.html: every feed with a thumbnail, its state and charts; the developer page of every view is /feeds.html; a WebSocket here is jsmpeg's viewer of the `jsmpeg` stream, or the `/` relay topic.", "GET"),
        ["/watch/{**feed}"] = ("page", "A feed's player page", "`<osprey-player>` playing the feed in the best protocol the browser and server share, with each protocol's link and an embed snippet.", "GET"),
        ["/{**file}"] = ("page", "The page's files, or a relay topic", "A file of the embedded page; a WebSocket on any other path joins that path's N:N relay topic.", "GET"),
        ["/{segment}/{**rest}"] = ("ingest", "A publish to a wrong secret", "Refused (403) and logged: jsmpeg's relay takes posts only at its secret.", "POST"),
        [Go2rtcPrefix + "/api/streams"] = ("go2rtc", "go2rtc's stream list (on --go2rtc-port)", "Every feed the client may read as go2rtc writes a stream: `producers` (the source's URL, password redacted, and its medias such as `video, recvonly, H264`) and `consumers`; `?src=` one (404 else).", "GET"),
        [Go2rtcPrefix + "/api/frame.jpeg"] = ("go2rtc", "One JPEG of a stream (on --go2rtc-port)", "`?src={feed}`: the next JPEG (an H.264 feed's through its lazy decoder); 404 plain text for an unknown stream.", "GET"),
        [Go2rtcPrefix + "/api/stream.mjpeg"] = ("go2rtc", "A stream as MJPEG (on --go2rtc-port)", "`?src={feed}`: `multipart/x-mixed-replace` JPEG parts until the client leaves.", "GET"),
        [Go2rtcPrefix + "/api/ws"] = ("go2rtc", "go2rtc's WebSocket (on --go2rtc-port)", "`?src={feed}`: send `{\"type\":\"mse\",\"value\":codecs}`, receive `{\"type\":\"mse\",\"value\":MIME}`, the init segment and fMP4 fragments; `webrtc/offer` is answered with `{\"type\":\"error\"}` until Osprey has WebRTC.", "GET"),
        [Go2rtcPrefix + "/api/webrtc"] = ("go2rtc", "go2rtc's WebRTC offer (on --go2rtc-port)", "501: Osprey has no WebRTC output yet.", "POST"),
        [DocumentPath] = ("docs", "This document", "The HTTP API in OpenAPI 3.1.", "GET"),
        [PagePath] = ("docs", "The API reference page", "Scalar's interactive reference of this document.", "GET"),
    };

    /// <summary>The summary, description and tag of a route pattern, or null when the table has none.</summary>
    public static (string Tag, string Summary, string Description)? Describe(string pattern, string? ingestSecret)
    {
        if (ingestSecret is not null)
        {
            // The secret is a path: document its shape, never its value.
            pattern = pattern.Replace("/" + ingestSecret, "/{secret}", StringComparison.Ordinal);
        }

        if (pattern is "/{secret}" or "/{secret}/{**rest}")
        {
            return ("ingest", "jsmpeg's relay ingest", "POST an endless MPEG-TS body to `/{secret}` (`--ingest-secret`); each publisher gets feed jsmpeg/N.");
        }

        if (pattern.StartsWith(PagePath + "/", StringComparison.Ordinal))
        {
            return ("docs", "The reference page's assets", "Scalar's script and the document it shows.");
        }

        return s_routes.TryGetValue(pattern, out var d) ? (d.Tag, d.Summary, d.Description) : null;
    }

    /// <summary>The OpenAPI path of a route pattern: catch-alls and optional markers dropped, as the generator writes them.</summary>
    public static string PathOf(string pattern) =>
        pattern.Replace("{**", "{", StringComparison.Ordinal).Replace("{*", "{", StringComparison.Ordinal).Replace("?}", "}", StringComparison.Ordinal);

    public static IServiceCollection AddOspreyOpenApi(this IServiceCollection services, string? ingestSecret)
    {
        services.AddOpenApi(options => options.AddDocumentTransformer((document, context, _) =>
        {
            Complete(document, context.ApplicationServices.GetRequiredService<EndpointDataSource>(), ingestSecret);
            return Task.CompletedTask;
        }));
        return services;
    }

    public static void MapOspreyOpenApi(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath).AllowEveryone();
        app.MapScalarApiReference(PagePath, options => options.WithOpenApiRoutePattern(DocumentPath).WithTitle("Osprey API")).AllowEveryone();
    }

    private static void Complete(OpenApiDocument document, EndpointDataSource endpoints, string? ingestSecret)
    {
        document.Info = new OpenApiInfo { Title = "Osprey", Version = "v1", Description = "Osprey's HTTP API: viewers, feeds, ingest, the relay, vw's API, access and metrics." };
        document.Paths ??= [];
        foreach (var endpoint in endpoints.Endpoints.OfType<RouteEndpoint>())
        {
            var raw = endpoint.RoutePattern.RawText ?? "";
            if (!raw.StartsWith('/'))
            {
                raw = "/" + raw;
            }

            // go2rtc's API shares a path with vw's (/api/streams) but answers only on its own port.
            var described = Describe(endpoint.Metadata.GetMetadata<IHostMetadata>() is { Hosts.Count: > 0 } ? Go2rtcPrefix + raw : raw, ingestSecret);
            var path = PathOf(ingestSecret is null ? raw : raw.Replace("/" + ingestSecret, "/{secret}", StringComparison.Ordinal));
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods is { Count: > 0 } listed
                ? listed.Where(m => m != "HEAD").ToList()
                : [ingestSecret is not null && path.StartsWith("/{secret}", StringComparison.Ordinal) ? "POST" : AnyMethodAs(raw)];
            if (!document.Paths.TryGetValue(path, out var existing) || existing is not OpenApiPathItem item)
            {
                item = new OpenApiPathItem();
                document.Paths[path] = item;
                foreach (var parameter in endpoint.RoutePattern.Parameters)
                {
                    item.Parameters ??= [];
                    item.Parameters.Add(new OpenApiParameter { Name = parameter.Name, In = ParameterLocation.Path, Required = true, Schema = new OpenApiSchema { Type = JsonSchemaType.String } });
                }
            }

            item.Operations ??= [];
            foreach (var method in methods)
            {
                var key = new HttpMethod(method);
                if (!item.Operations.TryGetValue(key, out var operation))
                {
                    operation = new OpenApiOperation { Responses = new OpenApiResponses { ["200"] = new OpenApiResponse { Description = "OK" } } };
                    item.Operations[key] = operation;
                }

                if (described is { } d)
                {
                    operation.Summary ??= d.Summary;
                    operation.Description ??= d.Description;
                    // Replaces the generator's default tag, the application's name.
                    operation.Tags = new HashSet<OpenApiTagReference> { new(d.Tag, document) };
                }

                var rule = endpoint.Metadata.GetMetadata<AccessRule>();
                if (rule is not null && !ReferenceEquals(rule, AccessRule.Public))
                {
                    operation.Responses ??= [];
                    operation.Responses.TryAdd("401", new OpenApiResponse { Description = "No credentials, or refused ones (a Basic challenge)." });
                    operation.Responses.TryAdd("403", new OpenApiResponse { Description = "The credentials lack the action or the path." });
                }
            }
        }

        document.Tags = new HashSet<OpenApiTag>(s_routes.Values.Select(r => r.Tag).Append("ingest").Append("docs").Distinct(StringComparer.Ordinal).Select(t => new OpenApiTag { Name = t }));
    }

    private static string AnyMethodAs(string pattern) => s_routes.TryGetValue(pattern, out var d) ? d.AnyMethodAs : "GET";
}
