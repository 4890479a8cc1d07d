namespace Osprey.Server.Security;

/// <summary>What a request to an endpoint needs: an action on a path, or nothing (public).</summary>
/// <param name="Action">The action.</param>
/// <param name="Path">The feed, stream or topic path; null when the request acts on no one path (a listing).</param>
public readonly record struct AccessRequirement(OspreyAction Action, string? Path);

/// <summary>
/// Endpoint metadata saying what a request to the endpoint needs; <see cref="AccessMiddleware"/> refuses what has
/// none, so a route cannot be added without deciding who may use it.
/// </summary>
/// <param name="Resolve">The requirement of a request, null when it needs none (the page, health checks).</param>
public sealed record AccessRule(Func<HttpContext, AccessRequirement?> Resolve)
{
    /// <summary>Open to anyone: what it serves is not a camera's pictures or control (the page's code, health).</summary>
    public static AccessRule Public { get; } = new(static _ => null);
}

/// <summary>Attaches <see cref="AccessRule"/>s to endpoints.</summary>
public static class AccessRuleExtensions
{
    /// <summary>The endpoint needs <paramref name="action"/> on the path <paramref name="path"/> gives (null: any path).</summary>
    public static TBuilder Requires<TBuilder>(this TBuilder builder, OspreyAction action, Func<HttpContext, string?>? path = null)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessRule(context => new AccessRequirement(action, path?.Invoke(context))));

    /// <summary>The endpoint's requirement depends on the request (a route that serves the page and a WebSocket).</summary>
    public static TBuilder Requires<TBuilder>(this TBuilder builder, Func<HttpContext, AccessRequirement?> resolve)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessRule(resolve));

    /// <summary>The endpoint is open to anyone.</summary>
    public static TBuilder AllowEveryone<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AccessRule.Public);

    /// <summary>The path of the route value <paramref name="name"/>.</summary>
    public static Func<HttpContext, string?> RouteValue(string name) =>
        context => context.Request.RouteValues[name] as string ?? "";

    /// <summary>Who the request is, as <see cref="AccessMiddleware"/> found it.</summary>
    public static OspreyAccess GetAccess(this HttpContext context) =>
        context.Features.Get<OspreyAccess>() ?? throw new InvalidOperationException("AccessMiddleware has not run for this request.");
}

/// <summary>The request's principal and whether it is local, set by <see cref="AccessMiddleware"/>.</summary>
/// <param name="Principal">Who the request is.</param>
/// <param name="IsLocal">A loopback client naming this machine.</param>
public sealed record OspreyAccess(OspreyPrincipal Principal, bool IsLocal)
{
    /// <summary>True when the request may do <paramref name="action"/> on <paramref name="path"/>.</summary>
    public bool Allows(OspreyAction action, string? path) => Principal.Allows(action, path, IsLocal);
}
