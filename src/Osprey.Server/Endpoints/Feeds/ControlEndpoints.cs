using System.Text.Json;
using System.Text.Json.Serialization;
using Osprey.Feeds;
using Osprey.Server.Security;
using Osprey.Sources;
using Osprey.Sources.V4L2;

namespace Osprey.Server.Endpoints.Feeds;

/// <summary>
/// <c>GET /api/feeds/{feed}/controls</c> and <c>PUT /api/feeds/{feed}/controls/{name}</c> (<c>{"value": n}</c>) for
/// V4L2 feeds. A literal segment outranks the <c>/api/feeds/{**name}</c> catch-all, so these need single-segment
/// feed names, which camera feeds have (video0, cam).
/// </summary>
internal static class ControlEndpoints
{
    public static void MapControlEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var sources = app.Services.GetRequiredService<SourceHost>();
        app.MapGet("/api/feeds/{feed}/controls", (string feed) =>
        {
            if (Resolve(registry, sources, feed, out var source) is { } error)
            {
                return error;
            }

            try
            {
                return Results.Json(source.GetControls().Select(ControlDto.From).ToList(), ControlJsonContext.Default.ListControlDto);
            }
            catch (Exception ex) when (ex is InvalidOperationException or V4L2Exception)
            {
                return Error(StatusCodes.Status409Conflict, ex.Message);
            }
        }).Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("feed"));

        app.MapPut("/api/feeds/{feed}/controls/{name}", async (HttpContext context, string feed, string name) =>
        {
            if (Resolve(registry, sources, feed, out var source) is { } error)
            {
                return error;
            }

            ControlValueDto? body;
            try
            {
                body = await JsonSerializer.DeserializeAsync(context.Request.Body, ControlJsonContext.Default.ControlValueDto, context.RequestAborted);
            }
            catch (JsonException ex)
            {
                return Error(StatusCodes.Status400BadRequest, $"The body must be {{\"value\": n}}: {ex.Message}");
            }

            if (body?.Value is not { } value)
            {
                return Error(StatusCodes.Status400BadRequest, "The body must be {\"value\": n}.");
            }

            try
            {
                return Results.Json(ControlDto.From(source.SetControl(name, value)), ControlJsonContext.Default.ControlDto);
            }
            catch (KeyNotFoundException ex)
            {
                return Error(StatusCodes.Status404NotFound, ex.Message);
            }
            catch (ArgumentOutOfRangeException ex)
            {
                return Error(StatusCodes.Status400BadRequest, ex.Message);
            }
            catch (Exception ex) when (ex is InvalidOperationException or V4L2Exception)
            {
                return Error(StatusCodes.Status409Conflict, ex.Message);
            }
        }).Requires(OspreyAction.Api, AccessRuleExtensions.RouteValue("feed"));
    }

    private static IResult? Resolve(FeedRegistry registry, SourceHost sources, string feed, out V4L2Source source)
    {
        source = null!;
        if (!sources.TryGetSupervisor(feed, out var supervisor))
        {
            return Error(StatusCodes.Status404NotFound, registry.TryGet(feed, out _)
                ? $"Feed '{feed}' has no source of its own, so no controls."
                : $"No feed named '{feed}'.");
        }

        if (supervisor.Source is not V4L2Source camera)
        {
            return Error(StatusCodes.Status409Conflict, $"Feed '{feed}' is not a V4L2 camera ({supervisor.Source.Uri}); only v4l2: feeds have controls.");
        }

        source = camera;
        return null;
    }

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorDto(message), OspreyJson.Context.ErrorDto, statusCode: status);
}

/// <summary>A camera control as the API shows it.</summary>
internal sealed record ControlDto(string Name, string Label, string Type, long Minimum, long Maximum, long Step, long Default, long? Value, bool ReadOnly, bool Inactive)
{
    public static ControlDto From(V4L2Control control) =>
        new(control.Name, control.Label, control.Type, control.Minimum, control.Maximum, control.Step, control.Default, control.Value, control.ReadOnly, control.Inactive);
}

/// <summary>The body of a control PUT.</summary>
internal sealed record ControlValueDto(long? Value);

/// <summary>Source-generated JSON for the controls API (kept apart from OspreyJsonContext so the two evolve separately).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(ControlDto))]
[JsonSerializable(typeof(List<ControlDto>))]
[JsonSerializable(typeof(ControlValueDto))]
internal sealed partial class ControlJsonContext : JsonSerializerContext;
