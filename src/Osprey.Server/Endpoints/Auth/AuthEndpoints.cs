using System.Text.Json;
using System.Text.Json.Serialization;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Auth;

/// <summary>
/// The page's login (a session cookie holding a signed token), who the caller is, and scoped short-lived tokens
/// for what cannot send a header (an <c>&lt;img&gt;</c> elsewhere, a player on another site, native HLS).
/// </summary>
internal static class AuthEndpoints
{
    private static readonly TimeSpan s_sessionLifetime = TimeSpan.FromHours(12);
    private static readonly TimeSpan s_defaultTokenLifetime = TimeSpan.FromMinutes(10);

    public static void MapAuthEndpoints(this WebApplication app)
    {
        var policy = app.Services.GetRequiredService<AccessPolicy>();

        app.MapGet("/api/auth/me", (HttpContext context) =>
        {
            var access = context.GetAccess();
            return Results.Json(Describe(access.Principal, policy, access.IsLocal), AuthJson.Default.AuthMeDto);
        }).AllowEveryone();

        // Open, because it is where credentials are given; a wrong password waits like any refused credential.
        app.MapPost("/api/auth/login", async (HttpContext context) =>
        {
            LoginDto? login;
            try
            {
                login = await JsonSerializer.DeserializeAsync(context.Request.Body, AuthJson.Default.LoginDto, context.RequestAborted);
            }
            catch (JsonException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body must be {\"user\": ..., \"password\": ...}.", detail: ex.Message);
            }

            if (login is not { User: { Length: > 0 } user, Password: { } password } || policy.CheckPassword(user, password) is not { } principal)
            {
                await Task.Delay(AccessMiddleware.RefusalDelay, context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Wrong user name or password.");
            }

            var token = policy.Signer.Issue(principal.Name, OspreyAction.All, PathGlob.All, s_sessionLifetime);
            context.Response.Cookies.Append(AccessPolicy.SessionCookie, token, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict, // never sent with another site's requests
                Secure = context.Request.IsHttps,
                Path = "/",
                MaxAge = s_sessionLifetime,
            });
            return Results.Json(Describe(principal, policy, context.GetAccess().IsLocal), AuthJson.Default.AuthMeDto);
        }).AllowEveryone();

        app.MapPost("/api/auth/logout", (HttpContext context) =>
        {
            context.Response.Cookies.Delete(AccessPolicy.SessionCookie, new CookieOptions { Path = "/" });
            return Results.NoContent();
        }).AllowEveryone();

        // A token can only narrow what the caller has: it grants nothing the caller could not do itself.
        app.MapPost("/api/auth/token", async (HttpContext context) =>
        {
            var access = context.GetAccess();
            if (policy.Method != AuthMethod.Internal)
            {
                // A signed token names an internal user, whom it is narrowed to at use: a JWT's or the callback's
                // principal is not one, so such a token would never work. The client has its own credential.
                return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Signed tokens are for the internal method; with a JWT or the HTTP callback, use that credential itself (?jwt= or ?token=).");
            }

            TokenRequestDto? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync(context.Request.Body, AuthJson.Default.TokenRequestDto, context.RequestAborted);
            }
            catch (JsonException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body must be {\"actions\": \"read\", \"path\": \"cam\", \"seconds\": 600}.", detail: ex.Message);
            }

            if (request is null || !OspreyActions.TryParse(request.Actions ?? "read", out var actions) || !PathGlob.TryParse(request.Path ?? "**", out var paths))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "actions must list read, publish, api or metrics; path must be a glob.");
            }

            var lifetime = request.Seconds is { } seconds ? TimeSpan.FromSeconds(seconds) : s_defaultTokenLifetime;
            if (lifetime <= TimeSpan.Zero || lifetime > SignedTokens.MaxLifetime)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: $"seconds must be from 1 to {SignedTokens.MaxLifetime.TotalSeconds:0}.");
            }

            // The glob's own path must be allowed for each action asked for (a literal path, or the glob as a pattern).
            foreach (var action in new[] { OspreyAction.Read, OspreyAction.Publish, OspreyAction.Api, OspreyAction.Metrics })
            {
                if ((actions & action) != 0 && !access.Allows(action, paths.Pattern))
                {
                    return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: $"{access.Principal.Name} may not {OspreyActions.Format(action)} on '{paths.Pattern}'.");
                }
            }

            var token = policy.Signer.Issue(access.Principal.Name, actions, paths, lifetime);
            return Results.Json(new TokenDto(token, OspreyActions.Format(actions), paths.Pattern, DateTimeOffset.UtcNow.Add(lifetime)), AuthJson.Default.TokenDto);
        }).Requires(OspreyAction.None);
    }

    private static AuthMeDto Describe(OspreyPrincipal principal, AccessPolicy policy, bool local) =>
        new(principal.Name,
            principal.Name == OspreyPrincipal.AnonymousName,
            policy.IsOpen,
            [.. principal.Permissions.Where(p => !p.LoopbackOnly || local).Select(p => new PermissionDto(OspreyActions.Format(p.Actions), p.Within is { } within ? within.Pattern : p.Paths.Pattern))]);
}

/// <summary>The body of <c>POST /api/auth/login</c>.</summary>
internal sealed record LoginDto(string? User, string? Password);

/// <summary>The body of <c>POST /api/auth/token</c>.</summary>
internal sealed record TokenRequestDto(string? Actions, string? Path, int? Seconds);

/// <summary>A token issued.</summary>
internal sealed record TokenDto(string Token, string Actions, string Path, DateTimeOffset Expires);

/// <summary>Who the caller is and what it may do.</summary>
internal sealed record AuthMeDto(string User, bool Anonymous, bool Open, IReadOnlyList<PermissionDto> Permissions);

/// <summary>One permission, as the API shows it.</summary>
internal sealed record PermissionDto(string Actions, string Path);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(LoginDto))]
[JsonSerializable(typeof(TokenRequestDto))]
[JsonSerializable(typeof(TokenDto))]
[JsonSerializable(typeof(AuthMeDto))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))] // Results.Problem's body, source-generated for AOT
internal sealed partial class AuthJson : JsonSerializerContext;
