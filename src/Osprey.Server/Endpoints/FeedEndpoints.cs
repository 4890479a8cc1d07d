using Osprey.Feeds;
using Osprey.Server.Viewers;

namespace Osprey.Server.Endpoints;

/// <summary>Viewer WebSockets and the feed API.</summary>
internal static class FeedEndpoints
{
    public static void MapFeedEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var viewerLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Viewers");
        var started = TimeProvider.System.GetTimestamp();

        // Feed names may contain '/', as vw's do, so the name is a catch-all and the suffix is matched here.
        app.Map("/ws/{**path}", async context =>
        {
            var path = (string?)context.Request.RouteValues["path"] ?? "";
            if (!path.EndsWith("/raw", StringComparison.Ordinal))
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, $"No viewer endpoint at /ws/{path}; raw frames are at /ws/{{feed}}/raw.");
                return;
            }

            var name = path[..^"/raw".Length];
            if (!registry.TryGet(name, out var feed))
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, UnknownFeed(registry, name));
                return;
            }

            await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping);
        });

        // The uWSGI article's page connects here: the first feed's raw frames.
        app.Map("/eyetoy", async context =>
        {
            var feed = registry.Default;
            if (feed is null)
            {
                await WriteErrorAsync(context, StatusCodes.Status404NotFound, "No feed to serve: Osprey was started without sources.");
                return;
            }

            await WebSocketFrameViewer.ServeAsync(context, feed, viewerLogger, lifetime.ApplicationStopping);
        });

        app.MapGet("/api/feeds", () =>
        {
            var feeds = new List<FeedDto>();
            foreach (var feed in registry.Feeds)
            {
                feeds.Add(ToDto(registry, feed));
            }

            return Results.Json(feeds, OspreyJson.Context.ListFeedDto);
        });

        app.MapGet("/api/feeds/{**name}", (string name) =>
            registry.TryGet(name, out var feed)
                ? Results.Json(ToDto(registry, feed), OspreyJson.Context.FeedDto)
                : Results.Json(new ErrorDto(UnknownFeed(registry, name)), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound));

        app.MapPost("/api/feeds/{**path}", (string path) =>
        {
            const string Suffix = "/restart";
            if (!path.EndsWith(Suffix, StringComparison.Ordinal))
            {
                return Results.Json(new ErrorDto($"No action at /api/feeds/{path}; POST /api/feeds/{{feed}}/restart restarts a feed's source."), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound);
            }

            var name = path[..^Suffix.Length];
            if (!registry.TryGetSupervisor(name, out var supervisor))
            {
                return Results.Json(new ErrorDto(UnknownFeed(registry, name)), OspreyJson.Context.ErrorDto, statusCode: StatusCodes.Status404NotFound);
            }

            supervisor.Restart();
            registry.TryGet(name, out var restarted);
            return Results.Json(ToDto(registry, restarted), OspreyJson.Context.FeedDto, statusCode: StatusCodes.Status202Accepted);
        });

        app.MapGet("/healthz", () => Results.Json(
            new HealthDto("ok", registry.Feeds.Count, TimeProvider.System.GetElapsedTime(started).TotalSeconds),
            OspreyJson.Context.HealthDto));
    }

    private static FeedDto ToDto(FeedRegistry registry, Feed feed) =>
        FeedDto.From(feed, registry.TryGetSupervisor(feed.Name, out var supervisor) ? supervisor.Restarts : 0);

    private static string UnknownFeed(FeedRegistry registry, string name)
    {
        var known = string.Join(", ", registry.Feeds.Select(f => f.Name));
        return known.Length == 0
            ? $"No feed named '{name}': this server has no feeds."
            : $"No feed named '{name}'. Feeds: {known}.";
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string message) =>
        Results.Json(new ErrorDto(message), OspreyJson.Context.ErrorDto, statusCode: status).ExecuteAsync(context);
}
