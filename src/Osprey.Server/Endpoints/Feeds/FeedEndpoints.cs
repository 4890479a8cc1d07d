using Osprey.Feeds;
using Osprey.Media;
using Osprey.Routing;
using Osprey.Server.Outputs;
using Osprey.Server.Outputs.Mjpeg;
using Osprey.Server.Outputs.WebSockets;
using Osprey.Server.Security;
using Osprey.Sources;
using Osprey.Transforms;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>Viewer WebSockets and the feed API.</summary>
internal static class FeedEndpoints
{
    /// <summary>
    /// The view suffixes of <c>/ws/{feed}/{suffix}</c>: no feed or stream may be named with one as its last segment
    /// (<see cref="FeedRegistry.ReservedLastSegments"/>), or it would shadow that view of the feed before it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (MediaFormat Format, ViewerFraming Framing)> ViewSuffixes =
        new Dictionary<string, (MediaFormat, ViewerFraming)>(StringComparer.Ordinal)
        {
            ["raw"] = (MediaFormat.Yuyv, ViewerFraming.Frames),
            ["jpeg"] = (MediaFormat.Jpeg, ViewerFraming.Frames),
            ["mp4"] = (MediaFormat.Fmp4, ViewerFraming.Fmp4),
            ["h264"] = (MediaFormat.Fmp4, ViewerFraming.WebCodecs),
            ["ts"] = (MediaFormat.MpegTs, ViewerFraming.Stream),
        };

    public static void MapFeedEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var views = app.Services.GetRequiredService<FeedViews>();
        var sources = app.Services.GetRequiredService<SourceHost>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var viewerLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Viewers");
        var started = TimeProvider.System.GetTimestamp();
        var snapshots = new SnapshotCache(TimeProvider.System);

        // Feed names may contain '/', as vw's do, so the name is a catch-all and the suffix is matched here.
        app.Map("/ws/{**path}", async context =>
        {
            var path = (string?)context.Request.RouteValues["path"] ?? "";
            var slash = path.LastIndexOf('/');
            var (format, framing) = ViewSuffixes.TryGetValue(slash < 0 ? "" : path[(slash + 1)..], out var view) ? view : (MediaFormat.Unknown, ViewerFraming.Frames);
            // A view suffix always means the view: no feed or stream can be named test/raw (FeedRegistry.ShadowedBy),
            // and none that predates the rule may take over /ws/test/raw either.
            if (format == MediaFormat.Unknown)
            {
                // vw's /ws/{feed-or-stream}: the native bytes of a feed or of a stream/... combination.
                if (streams.ResolveFeedOrStream(path) is not { } native)
                {
                    await WriteErrorAsync(context, StatusCodes.Status404NotFound, $"No feed or stream named '{path}'; feeds are at /ws/{{feed}}/raw, /jpeg, /mp4, /h264 and /ts, and vw's /ws/{{feed-or-stream}}.");
                    return;
                }

                var nativeFraming = native.Info.Format is MediaFormat.Yuyv or MediaFormat.Nv12 or MediaFormat.Jpeg ? ViewerFraming.Frames : ViewerFraming.Stream;
                await WebSocketFrameViewer.ServeAsync(context, native, viewerLogger, lifetime.ApplicationStopping, nativeFraming);
                return;
            }

            var name = path[..slash];
            var feed = format == MediaFormat.MpegTs && streams.TryGetStream(name, out var stream)
                ? stream.Output
                : await ResolveAsync(context, registry, views, name, format);
            if (feed is not null)
            {
                // The suffix is the protocol's name: a JPEG view's format is not known before its first frame.
                await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping, framing, path[(slash + 1)..]);
            }
        }).Requires(OspreyAction.Read, context => FeedOfViewerPath(context.Request.RouteValues["path"] as string ?? ""));

        // The uWSGI article's page connects here: the first feed's raw frames.
        app.Map("/eyetoy", async context =>
        {
            if (registry.Default is not { } first)
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, "No feed to serve: Osprey was started without sources.");
                return;
            }

            var feed = await ResolveAsync(context, registry, views, first.Name, MediaFormat.Yuyv);
            if (feed is not null)
            {
                await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping, protocol: OutputProtocol.Raw);
            }
        }).Requires(OspreyAction.Read, _ => registry.Default?.Name ?? "");

        // BerryMSE's pages connect here: the first feed as H.264 in BerryMSE's exact fragment layout. Ch3ri0ur's
        // fork serves its socket at /video_websocket, thinkski's upstream at /websocket.
        app.Map("/video_websocket", ServeBerryMseAsync).Requires(OspreyAction.Read, _ => registry.Default?.Name ?? "");
        app.Map("/websocket", ServeBerryMseAsync).Requires(OspreyAction.Read, _ => registry.Default?.Name ?? "");

        async Task ServeBerryMseAsync(HttpContext context)
        {
            if (registry.Default is not { } first)
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, "No feed to serve: Osprey was started without sources.");
                return;
            }

            var feed = await ResolveAsync(context, registry, views, first.Name, MediaFormat.BerryMse);
            if (feed is not null)
            {
                await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping, ViewerFraming.BerryMse);
            }
        }

        app.MapGet("/mjpeg/{**name}", async (HttpContext context, string name) =>
        {
            var feed = await ResolveAsync(context, registry, views, name, MediaFormat.Jpeg);
            if (feed is not null)
            {
                await MjpegViewer.ServeAsync(context, feed, lifetime.ApplicationStopping);
            }
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("name"));

        app.MapGet("/snapshot/{**file}", async (HttpContext context, string file) =>
        {
            if (!file.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, $"Snapshots are at /snapshot/{{feed}}.jpg, not /snapshot/{file}.");
                return;
            }

            var feed = await ResolveAsync(context, registry, views, file[..^4], MediaFormat.Jpeg);
            if (feed is null)
            {
                return;
            }

            // ?max-age=s (thumbnails): a JPEG taken less than s ago is served again, so that any number of thumbnails
            // polling once a second cost one encode a second, not one each.
            if (SnapshotCache.MaxAgeOf(context.Request.Query["max-age"]) is { } maxAge && snapshots.TryGet(feed.Name, maxAge) is { } cached)
            {
                await WriteJpegAsync(context, cached);
                return;
            }

            // Reading the feed starts its encoder if it is a raw feed's JPEG view; a snapshot is a viewer for a moment.
            using var frame = await feed.WaitForFrameAsync(s_snapshotTimeout, context.RequestAborted) is { } taken ? new FrameLease(taken) : default;
            if (frame.Frame is null)
            {
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, $"Feed '{feed.Name}' produced no frame within {s_snapshotTimeout.TotalSeconds:0} s.");
                return;
            }

            var jpeg = frame.Frame.Memory.ToArray();
            snapshots.Put(feed.Name, jpeg);
            await WriteJpegAsync(context, jpeg);
        }).Requires(OspreyAction.Read, context => context.Request.RouteValues["file"] is string file && file.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) ? file[..^4] : "");

        var catalog = app.Services.GetRequiredService<Configuration.SourceCatalog>();
        FeedDto ToDto(Feed feed) => FeedDto.From(feed, views, sources, catalog);

        // The list holds the feeds the client may read, so that it names no camera the client may not watch.
        app.MapGet("/api/feeds", (HttpContext context) =>
        {
            var access = context.GetAccess();
            var feeds = new List<FeedDto>();
            foreach (var feed in registry.Feeds)
            {
                if (access.Allows(OspreyAction.Read, feed.Name))
                {
                    feeds.Add(ToDto(feed));
                }
            }

            return Results.Json(feeds, OspreyJson.Context.ListFeedDto);
        }).Requires(OspreyAction.Read);

        app.MapGet("/api/feeds/{**name}", (string name) =>
            registry.TryGet(name, out var feed)
                ? Results.Json(ToDto(feed), OspreyJson.Context.FeedDto)
                : Results.Json(new ErrorDto(UnknownFeed(registry, name)), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound))
            .Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("name"));

        app.MapPost("/api/feeds/{**path}", (string path) =>
        {
            const string Suffix = "/restart";
            if (!path.EndsWith(Suffix, StringComparison.Ordinal))
            {
                return Results.Json(new ErrorDto($"No action at /api/feeds/{path}; POST /api/feeds/{{feed}}/restart restarts a feed's source."), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound);
            }

            var name = path[..^Suffix.Length];
            if (!sources.TryGetSupervisor(name, out var supervisor))
            {
                return Results.Json(new ErrorDto(UnknownFeed(registry, name)), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound);
            }

            supervisor.Restart();
            registry.TryGet(name, out var restarted);
            return Results.Json(ToDto(restarted), OspreyJson.Context.FeedDto, statusCode: StatusCodes.Status202Accepted);
        }).Requires(OspreyAction.Api, context => context.Request.RouteValues["path"] is string path && path.EndsWith("/restart", StringComparison.Ordinal) ? path[..^"/restart".Length] : "");

        var connections = app.Services.GetRequiredService<Http.ConnectionLimiter>();
        app.MapGet("/healthz", () => Results.Json(
            new HealthDto("ok", registry.Feeds.Count, TimeProvider.System.GetElapsedTime(started).TotalSeconds, connections.Open, connections.Refused),
            OspreyJson.Context.HealthDto)).AllowEveryone();
    }

    /// <summary>The feed or stream a <c>/ws/</c> path is a viewer of: <c>test/raw</c> is <c>test</c>, vw's <c>stream/x</c> itself.</summary>
    public static string FeedOfViewerPath(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash > 0 && ViewSuffixes.ContainsKey(path[(slash + 1)..]) ? path[..slash] : path;
    }

    private static readonly TimeSpan s_snapshotTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The feed to read for a viewer of <paramref name="name"/> in <paramref name="format"/>; writes the error and returns null otherwise.</summary>
    private static async Task<Feed?> ResolveAsync(HttpContext context, FeedRegistry registry, FeedViews views, string name, MediaFormat format)
    {
        if (!registry.TryGet(name, out var feed))
        {
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, UnknownFeed(registry, name));
            return null;
        }

        var view = views.GetView(feed, format, out var error);
        if (view is null)
        {
            var status = views.Jpeg.Available ? StatusCodes.Status404NotFound : StatusCodes.Status503ServiceUnavailable;
            await WriteErrorAsync(context, status, error ?? $"Feed '{name}' has no {format.ToApiName()} view.");
        }

        return view;
    }

    // Without the names: a 404 must not hand every feed's name to whoever guesses a URL; GET /api/feeds lists them.
    private static string UnknownFeed(FeedRegistry registry, string name) =>
        $"No feed named '{name}'; GET /api/feeds lists the feeds.";

    private static Task WriteJpegAsync(HttpContext context, byte[] jpeg)
    {
        context.Response.ContentType = "image/jpeg";
        context.Response.ContentLength = jpeg.Length;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.Body.WriteAsync(jpeg, context.RequestAborted).AsTask();
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string message) =>
        Results.Json(new ErrorDto(message), OspreyJson.Context.ErrorDto, statusCode: status).ExecuteAsync(context);
}
