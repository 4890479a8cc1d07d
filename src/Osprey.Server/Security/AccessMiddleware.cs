using Osprey.Runtime;

namespace Osprey.Server.Security;

/// <summary>
/// Checks every routed request against its endpoint's <see cref="AccessRule"/>: no credentials where some are
/// needed get 401 with a Basic challenge, refused credentials get 401 after a delay (logged), credentials without
/// the action or path get 403. An endpoint without a rule is refused: routes fail closed.
/// </summary>
/// <remarks>A viewer is checked once, at its upgrade or request, never per frame.</remarks>
public sealed partial class AccessMiddleware(RequestDelegate next, AccessPolicy policy, ILogger<AccessMiddleware> logger)
{
    /// <summary>How long a refused credential waits for its answer (slows guessing).</summary>
    public static readonly TimeSpan RefusalDelay = TimeSpan.FromSeconds(1);

    private const int RefusalLogsPerMinute = 20;
    private long _logWindowStart;
    private int _logsInWindow;

    /// <summary>Runs the check, then the endpoint.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            await next(context); // no route: the 404
            return;
        }

        var crossSite = context.Features.Get<CrossSiteRequest>() is not null;
        var local = !crossSite && policy.IsLocal(context);
        var rule = endpoint.Metadata.GetMetadata<AccessRule>();
        if (rule is null)
        {
            Log.Unclassified(logger, endpoint.DisplayName ?? context.Request.Path.Value ?? "");
            await PlainAsync(context, StatusCodes.Status403Forbidden, "This route has no access rule.");
            return;
        }

        // Resolved first: the HTTP callback is asked about this action on this path, not about credentials alone.
        var resolved = rule.Resolve(context);
        var auth = await policy.AuthenticateAsync(context, resolved, ambient: !crossSite);
        context.Features.Set(new OspreyAccess(auth.Principal, local));
        if (auth.Outcome == AuthOutcome.Refused)
        {
            LogRefusal(context, auth.Detail ?? "credentials");
            await Task.Delay(RefusalDelay, context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await ChallengeAsync(context, "The credentials were refused.");
            return;
        }

        if (resolved is not { } requirement || auth.Principal.Allows(requirement.Action, requirement.Path, local))
        {
            await next(context);
            return;
        }

        var what = $"{OspreyActions.Format(requirement.Action)}{(requirement.Path is { } p ? $" on '{p}'" : "")}";
        if (auth.Outcome == AuthOutcome.Anonymous)
        {
            await ChallengeAsync(context, crossSite
                ? $"A page of another site may not {what} (only this server's pages, --allow-origin origins, or a ?token= may)."
                : $"Credentials are needed to {what}.");
        }
        else
        {
            await PlainAsync(context, StatusCodes.Status403Forbidden, $"{auth.Principal.Name} may not {what}.");
        }
    }

    private Task ChallengeAsync(HttpContext context, string message)
    {
        // With JWTs a password prompt would be no use: the client needs a token.
        context.Response.Headers.WWWAuthenticate = policy.Method == AuthMethod.Jwt
            ? "Bearer realm=\"Osprey\""
            : "Basic realm=\"Osprey\", charset=\"UTF-8\"";
        return PlainAsync(context, StatusCodes.Status401Unauthorized, message);
    }

    private static async Task PlainAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void LogRefusal(HttpContext context, string detail)
    {
        // Bounded: a client that guesses in a loop cannot fill the log.
        var now = Environment.TickCount64;
        lock (this)
        {
            if (now - _logWindowStart > 60_000)
            {
                if (_logsInWindow > RefusalLogsPerMinute)
                {
                    Log.RefusalsSuppressed(logger, _logsInWindow - RefusalLogsPerMinute);
                }

                _logWindowStart = now;
                _logsInWindow = 0;
            }

            if (++_logsInWindow > RefusalLogsPerMinute)
            {
                return;
            }
        }

        Log.Refused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?", context.Request.Method, context.Request.Path.Value ?? "", detail);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.AccessRefused, LogLevel.Warning, "Refused {Remote} {Method} {Path}: {Detail}")]
        public static partial void Refused(ILogger logger, string remote, string method, string path, string detail);

        [LoggerMessage(LogEvents.AccessRefusalsSuppressed, LogLevel.Warning, "{Count} more refused credentials in the last minute (not logged one by one)")]
        public static partial void RefusalsSuppressed(ILogger logger, int count);

        [LoggerMessage(LogEvents.AccessUnclassifiedRoute, LogLevel.Error, "Route {Route} has no access rule; refused")]
        public static partial void Unclassified(ILogger logger, string route);
    }
}
