using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.RegularExpressions;
using Osprey.Routing;
using Osprey.Server.Outputs.WebSockets;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Vw;

/// <summary>
/// vw's REST API, route for route (<c>cmd/http.go</c>): streams and destinations added, re-POSTed to update,
/// listed and deleted, with vw's bodies and status codes. Two differences, both fixes: <c>DELETE …/all</c>
/// deletes everything and answers <c>"deleteAll"</c> (in vw the route was shadowed, answered <c>"all"</c> and
/// did nothing), and listings do not show tokens.
/// </summary>
internal static partial class VwApiEndpoints
{
    // gorilla/mux's pattern for every path variable: names with '_' or '.' are not found.
    [GeneratedRegex(@"^[a-zA-Z0-9\-\/]+$")]
    private static partial Regex VwName();

    public static void MapVwApiEndpoints(this WebApplication app)
    {
        // vw's local WS/JSON control socket; a literal route, so it wins over the viewers' /ws/{**path}.
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var control = app.Services.GetRequiredService<VwControlApi>();
        app.Map("/ws/" + DestinationRegistry.ControlStream, context => ServeControlAsync(context, control, lifetime.ApplicationStopping))
            .Requires(OspreyAction.Api);

        var api = app.Services.GetRequiredService<VwControlApi>();
        string[] updateMethods = ["PUT", "POST", "UPDATE"];

        app.MapMethods("/api/streams", updateMethods, async context =>
        {
            var body = await ReadBodyAsync(context);
            if (!VwJson.TryParseStream(body, out var stream, out var feeds, out var error))
            {
                await GoErrorAsync(context, StatusCodes.Status500InternalServerError, error ?? "bad request");
                return;
            }

            var result = api.Streams.TrySet(stream, feeds ?? []);
            if (result.Refusal != RuleRefusal.None)
            {
                await GoErrorAsync(context, StatusOf(result.Refusal), result.Error ?? "refused");
                return;
            }

            await JsonAsync(context, VwJson.Serialize(w => VwControlApi.WriteStreamRule(w, result.Name, feeds is null ? null : result.Feeds)));
        }).Requires(OspreyAction.Api);

        app.MapGet("/api/streams/{**stream}", async (HttpContext context, string stream) =>
        {
            if (!VwName().IsMatch(stream))
            {
                await NotFoundAsync(context);
            }
            else if (stream == "all")
            {
                await JsonAsync(context, VwJson.Serialize(w => VwControlApi.WriteStreams(w, api.Streams)));
            }
            else if (api.Streams.TryGetFeeds(stream, out var feeds))
            {
                await JsonAsync(context, VwJson.Serialize(w => VwJson.WriteStringArrayOrNull(w, feeds)));
            }
            else
            {
                await GoErrorAsync(context, StatusCodes.Status404NotFound, "Stream not found");
            }
        }).Requires(OspreyAction.Api);

        app.MapDelete("/api/streams/{**stream}", async (HttpContext context, string stream) =>
        {
            if (!VwName().IsMatch(stream))
            {
                await NotFoundAsync(context);
                return;
            }

            if (stream == "all")
            {
                api.Streams.RemoveAll();
                await JsonAsync(context, VwJson.String("deleteAll"));
                return;
            }

            api.Streams.Remove(stream);
            await JsonAsync(context, VwJson.String(stream));
        }).Requires(OspreyAction.Api);

        app.MapMethods("/api/destinations", updateMethods, async context =>
        {
            var body = await ReadBodyAsync(context);
            if (!VwJson.TryParseDestination(body, out var rule, out var error))
            {
                await GoErrorAsync(context, StatusCodes.Status500InternalServerError, error ?? "bad request");
                return;
            }

            var refusal = api.Destinations.TrySet(rule, out var stored, out var refused);
            if (refusal != RuleRefusal.None)
            {
                await GoErrorAsync(context, StatusOf(refusal), refused ?? "refused");
                return;
            }

            await JsonAsync(context, VwJson.Serialize(w => VwJson.WriteDestination(w, stored, redactToken: false)));
        }).Requires(OspreyAction.Api);

        app.MapGet("/api/destinations/{**id}", async (HttpContext context, string id) =>
        {
            if (!VwName().IsMatch(id))
            {
                await NotFoundAsync(context);
            }
            else if (id == "all")
            {
                await JsonAsync(context, VwJson.Serialize(w => VwControlApi.WriteDestinations(w, api.Destinations)));
            }
            else
            {
                // vw answers a zero-value rule, still 200, for an unknown id.
                var rule = api.Destinations.TryGet(id, out var found) ? found : new Osprey.Routing.DestinationRule("", "", "", "");
                await JsonAsync(context, VwJson.Serialize(w => VwJson.WriteDestination(w, rule, redactToken: true)));
            }
        }).Requires(OspreyAction.Api);

        app.MapDelete("/api/destinations/{**id}", async (HttpContext context, string id) =>
        {
            if (!VwName().IsMatch(id))
            {
                await NotFoundAsync(context);
                return;
            }

            if (id == "all")
            {
                api.DeleteAllDestinations();
                await JsonAsync(context, VwJson.String("deleteAll"));
                return;
            }

            api.Destinations.Remove(id);
            await JsonAsync(context, VwJson.String(id));
        }).Requires(OspreyAction.Api);

        app.MapGet("/healthcheck", context => JsonAsync(context, VwJson.String("ok"))).AllowEveryone();

        // vw's /api handler is a stub that answers an empty 200, whatever the method.
        app.Map("/api", context =>
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        }).AllowEveryone(); // answers nothing
    }

    /// <summary>vw had no refusals; these are plain text as its http.Error answers are.</summary>
    private static int StatusOf(RuleRefusal refusal) => refusal switch
    {
        RuleRefusal.Shadowing => StatusCodes.Status409Conflict,
        RuleRefusal.Limit => StatusCodes.Status503ServiceUnavailable,
        RuleRefusal.NotAllowed => StatusCodes.Status403Forbidden,
        _ => StatusCodes.Status400BadRequest,
    };

    private static async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        // Rules are small; a body past 64 KiB is not a rule, and is refused before it is read (413).
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = 64 * 1024;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        return buffer.ToArray();
    }

    private static Task JsonAsync(HttpContext context, byte[] body)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>Go's http.Error: plain text with a newline.</summary>
    private static Task GoErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        return context.Response.WriteAsync(message + "\n");
    }

    private static Task NotFoundAsync(HttpContext context) => GoErrorAsync(context, StatusCodes.Status404NotFound, "404 page not found");

    /// <summary>vw's local WS/JSON control API: each text command gets its reply.</summary>
    private static async Task ServeControlAsync(HttpContext context, VwControlApi api, CancellationToken stopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await PlainText.WriteAsync(context, StatusCodes.Status426UpgradeRequired, "The control API speaks WebSocket: send vw's JSON commands as text messages.");
            return;
        }

        using var socket = await WebSocketUpgrade.AcceptMessageSocketAsync(context);
        var buffer = new ArrayBufferWriter<byte>(1024);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var result = await socket.ReceiveAsync(buffer.GetMemory(4096), stopping);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", stopping);
                    break;
                }

                buffer.Advance(result.Count);
                if (buffer.WrittenCount > 64 * 1024)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, "commands are small", stopping);
                    break;
                }

                if (!result.EndOfMessage)
                {
                    continue;
                }

                var reply = api.Handle(Encoding.UTF8.GetString(buffer.WrittenSpan));
                buffer.ResetWrittenCount();
                await socket.SendAsync(Encoding.UTF8.GetBytes(reply), WebSocketMessageType.Text, endOfMessage: true, stopping);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }
}
