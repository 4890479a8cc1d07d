using System.Text.Json;
using System.Text.Json.Serialization;
using Osprey.Server.Configuration;
using Osprey.Server.Security;
using Osprey.Sources;

namespace Osprey.Server.Endpoints.Sources;

/// <summary>
/// The sources API: list, get, add, replace, patch, delete and restart the configured sources at run time, with
/// the validation the config file gets, and each change written back to the file (in place, comments kept).
/// Errors are RFC 9457 problem details.
/// </summary>
internal static class SourceEndpoints
{
    public static void MapSourceEndpoints(this WebApplication app)
    {
        var catalog = app.Services.GetRequiredService<SourceCatalog>();
        var host = app.Services.GetRequiredService<SourceHost>();

        // For editors that validate osprey.yaml (the YAML language server's schema association, or a modeline).
        var schema = ReadSchema();
        app.MapGet("/api/config/schema", () => Results.Bytes(schema, "application/schema+json")).AllowEveryone();

        app.MapGet("/api/sources", (HttpContext context) =>
        {
            var access = context.GetAccess();
            return Results.Json(catalog.Entries.Where(e => access.Allows(OspreyAction.Read, e.Name)).Select(e => ToDto(e, host, catalog)).ToList(), SourcesJson.Default.ListSourceDto);
        }).Requires(OspreyAction.Read);

        app.MapGet("/api/sources/{**name}", (string name) => catalog.Find(name) is { } entry
            ? Results.Json(ToDto(entry, host, catalog), SourcesJson.Default.SourceDto)
            : NoSuchSource(name))
            .Requires(OspreyAction.Read, AccessRuleExtensions.RouteValue("name"));

        app.MapPost("/api/sources", async (HttpContext context) =>
        {
            if (await ReadAsync(context) is not { } body)
            {
                return BadBody();
            }

            if (body.Name is not { Length: > 0 } name || body.Uri is not { Length: > 0 } uri)
            {
                return Problem(StatusCodes.Status400BadRequest, "A source needs a name and a uri: {\"name\": \"cam\", \"uri\": \"v4l2:///dev/video0\"}.");
            }

            if (!context.GetAccess().Allows(OspreyAction.Api, name))
            {
                return Problem(StatusCodes.Status403Forbidden, $"{context.GetAccess().Principal.Name} may not change source '{name}'.");
            }

            if (catalog.Find(name) is not null)
            {
                return Problem(StatusCodes.Status409Conflict, $"Source '{name}' exists; PUT /api/sources/{name} replaces it.");
            }

            return await SetAsync(context, catalog, host, name, uri, created: true);
        }).Requires(OspreyAction.Api);

        app.MapPut("/api/sources/{**name}", async (HttpContext context, string name) =>
        {
            if (await ReadAsync(context) is not { Uri: { Length: > 0 } uri })
            {
                return Problem(StatusCodes.Status400BadRequest, "The body must be {\"uri\": \"...\"}.");
            }

            return await SetAsync(context, catalog, host, name, uri, created: catalog.Find(name) is null);
        }).Requires(OspreyAction.Api, AccessRuleExtensions.RouteValue("name"));

        // PATCH changes what is given of an existing source (today: its URI) and refuses a name that does not exist.
        app.MapPatch("/api/sources/{**name}", async (HttpContext context, string name) =>
        {
            if (catalog.Find(name) is null)
            {
                return NoSuchSource(name);
            }

            if (await ReadAsync(context) is not { } body)
            {
                return BadBody();
            }

            return body.Uri is { Length: > 0 } uri
                ? await SetAsync(context, catalog, host, name, uri, created: false)
                : Results.Json(ToDto(catalog.Find(name)!, host, catalog), SourcesJson.Default.SourceDto);
        }).Requires(OspreyAction.Api, AccessRuleExtensions.RouteValue("name"));

        app.MapDelete("/api/sources/{**name}", async (HttpContext context, string name) =>
        {
            try
            {
                return await catalog.RemoveAsync(name, context.RequestAborted) ? Results.NoContent() : NoSuchSource(name);
            }
            catch (InvalidOperationException ex)
            {
                return Problem(StatusCodes.Status409Conflict, ex.Message);
            }
            catch (ConfigException ex)
            {
                return Problem(StatusCodes.Status409Conflict, $"The config file could not be edited: {ex.Message}");
            }
        }).Requires(OspreyAction.Api, AccessRuleExtensions.RouteValue("name"));

        app.MapPost("/api/sources/{name}/restart", (string name) =>
        {
            if (!host.TryGetSupervisor(name, out var supervisor))
            {
                return NoSuchSource(name);
            }

            supervisor.Restart();
            return Results.Json(ToDto(catalog.Find(name)!, host, catalog), SourcesJson.Default.SourceDto, statusCode: StatusCodes.Status202Accepted);
        }).Requires(OspreyAction.Api, AccessRuleExtensions.RouteValue("name"));
    }

    /// <summary>The config file's JSON Schema, embedded from docs/osprey.schema.json.</summary>
    internal static byte[] ReadSchema()
    {
        using var stream = typeof(SourceEndpoints).Assembly.GetManifestResourceStream("osprey.schema.json")
            ?? throw new InvalidOperationException("osprey.schema.json is not embedded.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static async Task<IResult> SetAsync(HttpContext context, SourceCatalog catalog, SourceHost host, string name, string uri, bool created)
    {
        try
        {
            await catalog.SetAsync(name, uri, context.RequestAborted);
        }
        catch (ArgumentException ex)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, ex.Message);
        }
        catch (InvalidOperationException ex)
        {
            return Problem(StatusCodes.Status409Conflict, ex.Message);
        }
        catch (ConfigException ex)
        {
            return Problem(StatusCodes.Status409Conflict, $"The config file could not be edited: {ex.Message}");
        }

        var dto = ToDto(catalog.Find(name)!, host, catalog);
        return created
            ? Results.Json(dto, SourcesJson.Default.SourceDto, statusCode: StatusCodes.Status201Created)
            : Results.Json(dto, SourcesJson.Default.SourceDto);
    }

    private static async Task<SourceBodyDto?> ReadAsync(HttpContext context)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, SourcesJson.Default.SourceBodyDto, context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static SourceDto ToDto(CatalogEntry entry, SourceHost host, SourceCatalog catalog) => new(
        entry.Name,
        entry.Uri,
        entry.Origin.ToApiName(),
        entry.Origin != SourceOrigin.Flag && catalog.Persists,
        host.TryGetSupervisor(entry.Name, out var supervisor) ? supervisor.Restarts : 0);

    private static IResult NoSuchSource(string name) => Problem(StatusCodes.Status404NotFound, $"No source named '{name}'.");

    private static IResult BadBody() => Problem(StatusCodes.Status400BadRequest, "The body must be JSON: {\"name\": \"cam\", \"uri\": \"...\"}.");

    private static IResult Problem(int status, string title) => Results.Problem(statusCode: status, title: title);
}

/// <summary>A source as the API shows it.</summary>
/// <param name="Name">The feed name.</param>
/// <param name="Uri">The source URI.</param>
/// <param name="Origin"><c>flag</c> (a --source flag: not changeable here), <c>config</c> (the config file) or <c>api</c> (set through this API, or read from the state file).</param>
/// <param name="Persisted">True when the source is in the config file or the state file (a change survives a restart).</param>
/// <param name="Restarts">Restarts of its supervisor.</param>
internal sealed record SourceDto(string Name, string Uri, string Origin, bool Persisted, long Restarts);

/// <summary>The body of POST, PUT and PATCH.</summary>
internal sealed record SourceBodyDto(string? Name, string? Uri);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SourceDto))]
[JsonSerializable(typeof(List<SourceDto>))]
[JsonSerializable(typeof(SourceBodyDto))]
internal sealed partial class SourcesJson : JsonSerializerContext;
