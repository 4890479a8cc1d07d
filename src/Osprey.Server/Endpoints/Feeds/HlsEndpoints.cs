using Osprey.Containers.Hls;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Server.Outputs.Hls;
using Osprey.Server.Security;
using Osprey.Transforms;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>
/// <c>/hls/{feed}/...</c>: HLS and Low-Latency HLS of every H.264 feed (raw feeds through their encoder), and
/// <c>/api/hls</c>, the running streams' counters.
/// </summary>
/// <remarks>
/// Caching follows AWS MediaPackage's recipe for CDNs (../shared/reference/peers-2026-12.md §5b): init segments,
/// parts and segments are immutable (their names never repeat: the media sequence starts at the Unix time);
/// a blocking playlist response is the same bytes for the same URL (rendered when its part completed) and may be
/// cached for a second, the query in the cache key; a playlist without directives for a second, HTTP's smallest
/// unit above nothing. URLs carry no token or session, so one cache entry serves every viewer.
/// </remarks>
internal static class HlsEndpoints
{
    private const string PlaylistType = "application/vnd.apple.mpegurl";
    private const string Immutable = "public, max-age=31536000, immutable";
    private const string OneSecond = "public, max-age=1";
    private const string NoStore = "no-store";
    private static readonly TimeSpan s_firstSegmentTimeout = TimeSpan.FromSeconds(15);

    public static void MapHlsEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var views = app.Services.GetRequiredService<FeedViews>();
        var streams = app.Services.GetRequiredService<HlsStreams>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();

        app.MapGet("/hls/{**path}", async (HttpContext context, string path) =>
        {
            var slash = path.LastIndexOf('/');
            var resource = slash > 0 ? HlsNames.Parse(path.AsSpan(slash + 1)) : default;
            if (resource.Kind == HlsResourceKind.None)
            {
                await ErrorAsync(context, StatusCodes.Status404NotFound, "HLS is at /hls/{feed}/index.m3u8 (media.m3u8 for low latency, plain.m3u8 without).");
                return;
            }

            var name = path[..slash];
            if (!registry.TryGet(name, out var feed))
            {
                await ErrorAsync(context, StatusCodes.Status404NotFound, $"No feed named '{name}'; GET /api/feeds lists the feeds.");
                return;
            }

            var view = views.GetView(feed, MediaFormat.Fmp4, out var error);
            if (view is null)
            {
                await ErrorAsync(context, StatusCodes.Status404NotFound, error ?? $"Feed '{name}' has no H.264 view for HLS.");
                return;
            }

            if (streams.GetOrStart(name, view) is not { } stream)
            {
                await ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, $"Too many HLS streams running (at most {streams.MaxStreams}).");
                return;
            }

            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            await ServeAsync(context, stream, resource, cancel.Token);
        }).Requires(OspreyAction.Read, context => context.Request.RouteValues["path"] is string p && p.LastIndexOf('/') is var s and > 0 ? p[..s] : "");

        app.MapGet("/api/hls", (HttpContext context) =>
        {
            var access = context.GetAccess();
            var list = new List<HlsStreamDto>();
            foreach (var stream in streams.Running)
            {
                if (!access.Allows(OspreyAction.Read, stream.Name))
                {
                    continue;
                }

                var c = stream.Counters;
                list.Add(stream.Read(s => new HlsStreamDto(
                    stream.Name, s.StreamId, Math.Round(stream.Uptime, 3), Math.Round(stream.Idle.TotalSeconds, 3), s.FirstMsn, s.OpenMsn, s.Segments.Count, s.Bytes,
                    s.PartsMade, s.SegmentsMade, s.DroppedFrames, stream.BadFragments, c.Multivariant, c.Playlists, c.BlockingPlaylists, c.Parts, c.Segments, c.Inits,
                    c.Refused, c.TimedOut)));
            }

            return Results.Json(list, OspreyJson.Context.ListHlsStreamDto);
        }).Requires(OspreyAction.Read);
    }

    private static async Task ServeAsync(HttpContext context, HlsStream stream, HlsResource resource, CancellationToken cancellationToken)
    {
        var settings = stream.Settings;
        switch (resource.Kind)
        {
            case HlsResourceKind.Multivariant:
                {
                    stream.Counters.CountMultivariant();
                    var body = await WaitForAsync(stream, _ => stream.GetMultivariant(), s_firstSegmentTimeout, cancellationToken);
                    await (body is null
                        ? Unavailable(context, stream, "The feed gave no complete segment yet.")
                        : WriteAsync(context, body, PlaylistType, "public, max-age=5", cancellationToken));
                    return;
                }

            case HlsResourceKind.PlainPlaylist:
                {
                    stream.Counters.CountPlaylist(blocking: false);
                    var body = await WaitForAsync(stream, s => s.PlainPlaylist, s_firstSegmentTimeout, cancellationToken);
                    await (body is null
                        ? Unavailable(context, stream, "The feed gave no complete segment yet.")
                        : WriteAsync(context, body, PlaylistType, OneSecond, cancellationToken));
                    return;
                }

            case HlsResourceKind.MediaPlaylist:
                {
                    var query = context.Request.Query;
                    if (!HlsDirectives.TryParse(query["_HLS_msn"].LastOrDefault(), query["_HLS_part"].LastOrDefault(), query["_HLS_skip"].LastOrDefault(), out var directives, out var problem))
                    {
                        stream.Counters.CountRefused();
                        await ErrorAsync(context, StatusCodes.Status400BadRequest, problem!);
                        return;
                    }

                    stream.Counters.CountPlaylist(directives.Msn is not null);
                    // RFC 8216bis §6.2.5.2: answer within three target durations, or 503.
                    var timeout = directives.Msn is null ? s_firstSegmentTimeout : TimeSpan.FromSeconds(3 * stream.Read(s => s.TargetDuration));
                    var deadline = TimeProvider.System.GetTimestamp() + (long)(timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
                    while (true)
                    {
                        var changed = stream.Changed;
                        byte[]? body = null;
                        var outcome = stream.Read(s => s.Resolve(directives, out body));
                        if (outcome == HlsOutcome.Ready)
                        {
                            await WriteAsync(context, body!, PlaylistType, OneSecond, cancellationToken);
                            return;
                        }

                        if (outcome == HlsOutcome.BadRequest)
                        {
                            stream.Counters.CountRefused();
                            var (first, live) = stream.Read(s => (s.FirstMsn, s.OpenMsn));
                            await ErrorAsync(context, StatusCodes.Status400BadRequest, $"_HLS_msn/_HLS_part outside the window: segments {first} to {live} are kept (and up to two ahead may be waited for).");
                            return;
                        }

                        if (!await WaitAsync(changed, deadline, cancellationToken) || stream.IsStopped)
                        {
                            await Unavailable(context, stream, "What the request waits for did not arrive in time.");
                            return;
                        }
                    }
                }

            case HlsResourceKind.Init:
                {
                    stream.Counters.CountInit();
                    var body = resource.Number == stream.Read(s => s.StreamId)
                        ? await WaitForAsync(stream, s => s.GetInit(resource.Index), TimeSpan.Zero, cancellationToken)
                        : null;
                    await (body is null
                        ? ErrorAsync(context, StatusCodes.Status404NotFound, "No such init segment in this stream.")
                        : WriteAsync(context, body, "video/mp4", Immutable, cancellationToken));
                    return;
                }

            case HlsResourceKind.Part:
            case HlsResourceKind.Segment:
                {
                    var isPart = resource.Kind == HlsResourceKind.Part;
                    if (isPart)
                    {
                        stream.Counters.CountPart();
                    }
                    else
                    {
                        stream.Counters.CountSegment();
                    }

                    var timeout = TimeSpan.FromSeconds(3 * stream.Read(s => s.TargetDuration));
                    var deadline = TimeProvider.System.GetTimestamp() + (long)(timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
                    while (true)
                    {
                        var changed = stream.Changed;
                        HlsPart? part = null;
                        HlsSegment? segment = null;
                        IReadOnlyList<HlsPart>? parts = null;
                        var state = stream.Read(s =>
                        {
                            if (isPart)
                            {
                                return s.FindPart(resource.Number, resource.Index, out part);
                            }

                            var found = s.FindSegment(resource.Number, out segment);
                            parts = segment is null ? null : [.. segment.Parts];
                            return found;
                        });
                        if (state == HlsPartState.Available)
                        {
                            await WritePartsAsync(context, part is not null ? [part] : parts!, cancellationToken);
                            return;
                        }

                        if (state == HlsPartState.Missing)
                        {
                            await ErrorAsync(context, StatusCodes.Status404NotFound, "Not in the window (too old, or never made: a segment ended before this part).");
                            return;
                        }

                        // The preload hint (or the segment being made): blocks until it is complete.
                        if (!await WaitAsync(changed, deadline, cancellationToken) || stream.IsStopped)
                        {
                            await Unavailable(context, stream, "The part did not arrive in time.");
                            return;
                        }
                    }
                }
        }
    }

    private static async Task<byte[]?> WaitForAsync(HlsStream stream, Func<HlsSegmenter, byte[]?> get, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = TimeProvider.System.GetTimestamp() + (long)(timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        while (true)
        {
            var changed = stream.Changed;
            if (stream.Read(get) is { } body)
            {
                return body;
            }

            if (!await WaitAsync(changed, deadline, cancellationToken) || stream.IsStopped)
            {
                return null;
            }
        }
    }

    /// <summary>Waits for <paramref name="changed"/> until <paramref name="deadline"/>; false on timeout or cancellation.</summary>
    private static async Task<bool> WaitAsync(Task changed, long deadline, CancellationToken cancellationToken)
    {
        var left = TimeProvider.System.GetElapsedTime(TimeProvider.System.GetTimestamp(), deadline);
        if (left <= TimeSpan.Zero)
        {
            return false;
        }

        try
        {
            await changed.WaitAsync(left, cancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task WriteAsync(HttpContext context, byte[] body, string type, string cacheControl, CancellationToken cancellationToken)
    {
        context.Response.ContentType = type;
        context.Response.ContentLength = body.Length;
        context.Response.Headers.CacheControl = cacheControl;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(body, cancellationToken);
        }
    }

    private static async Task WritePartsAsync(HttpContext context, IReadOnlyList<HlsPart> parts, CancellationToken cancellationToken)
    {
        context.Response.ContentType = "video/mp4";
        context.Response.ContentLength = parts.Sum(p => (long)p.Data.Length);
        context.Response.Headers.CacheControl = Immutable;
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        foreach (var part in parts)
        {
            await context.Response.Body.WriteAsync(part.Data, cancellationToken);
        }
    }

    private static Task Unavailable(HttpContext context, HlsStream stream, string message)
    {
        stream.Counters.CountTimedOut();
        return ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, message);
    }

    private static Task ErrorAsync(HttpContext context, int status, string message)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }

        context.Response.Headers.CacheControl = NoStore;
        return Results.Json(new ErrorDto(message), OspreyJson.Context.ErrorDto, statusCode: status).ExecuteAsync(context);
    }
}
