using System.Text;
using Microsoft.Net.Http.Headers;
using Osprey.Feeds;
using Osprey.Protocols.Sdp;
using Osprey.Server.Outputs.WebRtc;
using Osprey.Server.Security;
using Osprey.Transforms;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>
/// WHEP (RFC 9725): <c>POST /{feed}/whep</c> with a browser's SDP offer answers <c>201 Created</c> with the SDP
/// answer (every candidate in it, so no trickle is needed) and the session's URL in <c>Location</c>;
/// <c>DELETE</c> on that URL ends the session; <c>PATCH</c> takes trickled candidates (not needed by an ICE-lite
/// server, accepted) and refuses an ICE restart with an explanation; <c>OPTIONS</c> says what the resource takes.
/// </summary>
internal static class WhepEndpoints
{
    private const int MaxOfferBytes = SdpOffer.MaxLength;

    public static void MapWhepEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var views = app.Services.GetRequiredService<FeedViews>();
        var webrtc = app.Services.GetRequiredService<WebRtcServer>();

        app.MapPost("/{feed}/whep", async (HttpContext context, string feed) =>
        {
            if (!IsSdp(context.Request.ContentType))
            {
                return Error(StatusCodes.Status415UnsupportedMediaType, "A WHEP offer is sent as Content-Type: application/sdp.");
            }

            var offerText = await ReadBodyAsync(context.Request, MaxOfferBytes, context.RequestAborted);
            if (offerText is null)
            {
                return Error(StatusCodes.Status413PayloadTooLarge, $"The offer is longer than {MaxOfferBytes} bytes.");
            }

            if (!registry.TryGet(feed, out var source))
            {
                return Error(StatusCodes.Status404NotFound, $"No feed named '{feed}'; GET /api/feeds lists the feeds.");
            }

            if (views.GetRtpPacketizer(source, out var viewError) is not { } packetizer)
            {
                return Error(StatusCodes.Status409Conflict, $"Feed '{feed}' cannot be sent over WebRTC: {viewError}.");
            }

            if (!SdpOffer.TryParse(offerText, out var offer, out var parseError))
            {
                return Error(StatusCodes.Status400BadRequest, $"Not a usable SDP offer: {parseError}.");
            }

            var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
            var (session, answer, status, error) = webrtc.Offer(source, packetizer, offer!, remote);
            if (session is null)
            {
                return Error(status, error!);
            }

            var location = $"/{feed}/whep/{session.Id}";
            context.Response.Headers.Location = location;
            context.Response.Headers.ETag = $"\"{session.Ufrag}\"";
            context.Response.Headers["Accept-Patch"] = "application/trickle-ice-sdpfrag";
            return Results.Text(answer!, "application/sdp", Encoding.UTF8, StatusCodes.Status201Created);
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("feed"));

        // Not a CORS preflight (WebOriginMiddleware answers those): what the resource takes.
        app.MapMethods("/{feed}/whep", ["OPTIONS"], (HttpContext context) =>
        {
            context.Response.Headers.Allow = "OPTIONS, POST";
            context.Response.Headers["Accept-Post"] = "application/sdp";
            return Results.NoContent();
        }).AllowEveryone();

        app.MapDelete("/{feed}/whep/{session}", (string feed, string session) =>
        {
            if (!webrtc.TryGetSession(session, out var found) || found.Feed.Name != feed)
            {
                return Error(StatusCodes.Status404NotFound, "No such WebRTC session (it ended, or the URL is not one this server gave).");
            }

            found.Close("the viewer ended it (DELETE)");
            return Results.Ok();
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("feed"));

        app.MapPatch("/{feed}/whep/{session}", async (HttpContext context, string feed, string session) =>
        {
            if (!webrtc.TryGetSession(session, out var found) || found.Feed.Name != feed)
            {
                return Error(StatusCodes.Status404NotFound, "No such WebRTC session (it ended, or the URL is not one this server gave).");
            }

            if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type) || !type.MediaType.Equals("application/trickle-ice-sdpfrag", StringComparison.OrdinalIgnoreCase))
            {
                return Error(StatusCodes.Status415UnsupportedMediaType, "PATCH takes Content-Type: application/trickle-ice-sdpfrag.");
            }

            var fragment = await ReadBodyAsync(context.Request, 16 * 1024, context.RequestAborted);
            if (fragment is null)
            {
                return Error(StatusCodes.Status413PayloadTooLarge, "The fragment is longer than 16 KiB.");
            }

            if (fragment.Contains("a=ice-ufrag:", StringComparison.Ordinal) && !fragment.Contains("a=ice-ufrag:" + System.Text.Encoding.UTF8.GetString(found.RemoteUfragBytes), StringComparison.Ordinal))
            {
                // RFC 9725 §4.4: a server that cannot restart ICE says so; the player starts a new session instead.
                context.Response.Headers.Allow = "DELETE";
                return Error(StatusCodes.Status405MethodNotAllowed, "ICE restarts are not supported: DELETE this session and POST a new offer.");
            }

            // Trickled candidates: an ICE-lite server learns the browser's address from its checks, so they are not needed.
            return Results.NoContent();
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("feed"));

        app.MapMethods("/{feed}/whep/{session}", ["GET", "PUT", "POST"], () =>
            Error(StatusCodes.Status405MethodNotAllowed, "A WHEP session takes PATCH (trickle) and DELETE (end).")).AllowEveryone();
    }

    private static bool IsSdp(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type) && type.MediaType.Equals("application/sdp", StringComparison.OrdinalIgnoreCase);

    private static async Task<string?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        var buffer = new byte[limit + 1];
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await request.Body.ReadAsync(buffer.AsMemory(total), cancellationToken);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total > limit ? null : Encoding.UTF8.GetString(buffer, 0, total);
    }

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorDto(message), OspreyJson.Context.ErrorDto, statusCode: status);
}
