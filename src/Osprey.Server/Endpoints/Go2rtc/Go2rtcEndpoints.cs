using System.Text.Json;
using System.Text.RegularExpressions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;
using Osprey.Server.Outputs.Mjpeg;
using Osprey.Server.Outputs.WebSockets;
using Osprey.Server.Security;
using Osprey.Transforms;

namespace Osprey.Server.Endpoints.Go2rtc;

/// <summary>
/// The part of go2rtc's HTTP API that Frigate and Home Assistant use, on its own port (<c>--go2rtc-port</c>, go2rtc's is
/// 1984): <c>GET /api/streams</c> in go2rtc's shape, <c>/api/frame.jpeg?src=</c>, <c>/api/stream.mjpeg?src=</c>, and the
/// WebSocket <c>/api/ws?src=</c> with its <c>mse</c> conversation. A go2rtc stream is an Osprey feed of the same name;
/// its views are Osprey's (an MJPEG feed plays over MSE through the lazy H.264 encoder, an H.264 feed gives JPEG
/// through the lazy decoder). WebRTC (<c>webrtc/offer</c>, <c>POST /api/webrtc</c>) is answered with an error until
/// Osprey has a WebRTC output. Access is the feed's read permission, as on every other viewer route.
/// </summary>
internal static partial class Go2rtcEndpoints
{
    /// <summary>How long a client has to say what it wants after the WebSocket opens.</summary>
    private static readonly TimeSpan s_firstMessageTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan s_snapshotTimeout = TimeSpan.FromSeconds(5);

    private const string NoWebRtc = "Osprey has no WebRTC output yet; use mse (MSE over this WebSocket)";

    public static void MapGo2rtcEndpoints(this WebApplication app, int port)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var views = app.Services.GetRequiredService<FeedViews>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Go2rtc");
        var host = $"*:{port}";
        Func<HttpContext, string?> src = context => context.Request.Query["src"].ToString();

        // Every stream (feed) the client may read, or one with ?src= (404 for another, as go2rtc).
        app.MapGet("/api/streams", async context =>
        {
            var access = context.GetAccess();
            var name = context.Request.Query["src"].ToString();
            if (name.Length > 0)
            {
                if (!registry.TryGet(name, out var one) || !access.Allows(OspreyAction.Read, one.Name))
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }

                await WriteJsonAsync(context, json => WriteStream(json, one, views));
                return;
            }

            await WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                foreach (var feed in registry.Feeds)
                {
                    if (access.Allows(OspreyAction.Read, feed.Name))
                    {
                        json.WritePropertyName(feed.Name);
                        WriteStream(json, feed, views);
                    }
                }

                json.WriteEndObject();
            });
        }).RequireHost(host).Requires(OspreyAction.Read);

        app.MapGet("/api/frame.jpeg", async context =>
        {
            if (await ResolveAsync(context, registry, views, MediaFormat.Jpeg) is not { } feed)
            {
                return;
            }

            // A snapshot is a viewer for a moment: an H.264 feed's decoder runs for it and stops after it.
            using var frame = await feed.WaitForFrameAsync(s_snapshotTimeout, context.RequestAborted) is { } taken ? new FrameLease(taken) : default;
            if (frame.Frame is null)
            {
                await PlainText.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, $"stream '{feed.Name}' produced no picture within {s_snapshotTimeout.TotalSeconds:0} s");
                return;
            }

            context.Response.ContentType = "image/jpeg";
            context.Response.ContentLength = frame.Frame.Length;
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.Body.WriteAsync(frame.Frame.Memory, context.RequestAborted);
        }).RequireHost(host).Requires(OspreyAction.Read, src);

        app.MapGet("/api/stream.mjpeg", async context =>
        {
            if (await ResolveAsync(context, registry, views, MediaFormat.Jpeg) is { } feed)
            {
                await MjpegViewer.ServeAsync(context, feed, lifetime.ApplicationStopping);
            }
        }).RequireHost(host).Requires(OspreyAction.Read, src);

        app.Map("/api/ws", async context =>
        {
            // go2rtc's players ask for MSE or WebRTC in their first messages; fMP4 is what MSE needs.
            if (await ResolveAsync(context, registry, views, MediaFormat.Fmp4) is { } feed)
            {
                await WebSocketFrameViewer.ServeAsync(context, feed, logger, lifetime.ApplicationStopping, ViewerFraming.Go2rtcMse, greet: AwaitMseRequestAsync);
            }
        }).RequireHost(host).Requires(OspreyAction.Read, src);

        app.MapPost("/api/webrtc", async context =>
            await PlainText.WriteAsync(context, StatusCodes.Status501NotImplemented, NoWebRtc))
            .RequireHost(host).Requires(OspreyAction.Read, src);
    }

    /// <summary>
    /// Reads the client's messages until it asks for <c>mse</c> (true) or leaves, or says nothing for 10 s (false);
    /// <c>webrtc/offer</c> (and go2rtc's older <c>webrtc</c>) is answered with go2rtc's error message.
    /// </summary>
    private static async Task<bool> AwaitMseRequestAsync(WebSocketConnection connection)
    {
        using var timeout = new CancellationTokenSource(s_firstMessageTimeout);
        try
        {
            while (await connection.TextMessages!.WaitToReadAsync(timeout.Token))
            {
                while (connection.TextMessages.TryRead(out var text))
                {
                    var type = ReadType(text);
                    if (type == "mse")
                    {
                        return true;
                    }

                    if (type is "webrtc/offer" or "webrtc")
                    {
                        // go2rtc's form: {"type":"error","value":"<request type>: <why>"}.
                        if (!await connection.SendAsync(WebSocketOpcode.Text, Go2rtcMseFraming.Message("error", $"{type}: {NoWebRtc}")))
                        {
                            return false;
                        }
                    }

                    // webrtc/candidate and anything else: nothing to answer (go2rtc ignores unknown types).
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return false;
    }

    /// <summary>The <c>type</c> of a go2rtc message, or null when the text is not one.</summary>
    private static string? ReadType(string text)
    {
        try
        {
            using var message = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            return message.RootElement.ValueKind == JsonValueKind.Object && message.RootElement.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// A stream as go2rtc writes it: <c>producers</c> (here the feed's source, with its medias in go2rtc's words, e.g.
    /// <c>video, recvonly, H264</c>) and <c>consumers</c> (one entry per viewer of the feed in any view).
    /// </summary>
    private static void WriteStream(Utf8JsonWriter json, Feed feed, FeedViews views)
    {
        json.WriteStartObject();
        json.WriteStartArray("producers");
        json.WriteStartObject();
        json.WriteString("url", RedactUserInfo(feed.SourceUri ?? $"osprey:{feed.Name}"));
        json.WriteString("format_name", feed.Info.Format.ToApiName());
        json.WriteString("state", feed.State.ToApiName());
        json.WriteStartArray("medias");
        if (CodecName(feed.Info.Format) is { } codec)
        {
            json.WriteStringValue($"video, recvonly, {codec}");
        }

        json.WriteEndArray();
        json.WriteNumber("bytes_recv", feed.Bytes);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteStartArray("consumers");
        for (var i = views.CountViewers(feed); i > 0; i--)
        {
            json.WriteStartObject();
            json.WriteString("format_name", "osprey");
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>go2rtc's codec name for a feed's format.</summary>
    private static string? CodecName(MediaFormat format) => format switch
    {
        MediaFormat.H264 => "H264",
        MediaFormat.Jpeg => "JPEG",
        MediaFormat.Yuyv or MediaFormat.Nv12 => "RAW",
        MediaFormat.MpegTs => "MPEGTS",
        _ => null,
    };

    /// <summary>A source URI with any <c>user:password@</c> replaced, so that /api/streams never hands out a camera's password.</summary>
    public static string RedactUserInfo(string uri) => UserInfo().Replace(uri, "://***@");

    [GeneratedRegex("://[^/@\\s]+@")]
    private static partial Regex UserInfo();

    /// <summary>The feed <c>?src=</c> names in <paramref name="format"/>; writes go2rtc-style plain-text errors otherwise.</summary>
    private static async Task<Feed?> ResolveAsync(HttpContext context, FeedRegistry registry, FeedViews views, MediaFormat format)
    {
        var name = context.Request.Query["src"].ToString();
        if (name.Length == 0)
        {
            await PlainText.WriteAsync(context, StatusCodes.Status400BadRequest, "src is required: ?src={stream}, a feed's name");
            return null;
        }

        if (!registry.TryGet(name, out var feed))
        {
            // go2rtc's words; an Osprey stream is a configured feed, never a URL made on request.
            await PlainText.WriteAsync(context, StatusCodes.Status404NotFound, "stream not found");
            return null;
        }

        var view = views.GetView(feed, format, out var error);
        if (view is null)
        {
            await PlainText.WriteAsync(context, StatusCodes.Status404NotFound, error ?? $"stream '{name}' has no {format.ToApiName()} view");
        }

        return view;
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        write(json);
        await json.FlushAsync(context.RequestAborted);
    }
}
