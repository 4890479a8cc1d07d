namespace Osprey.Server.Security;

/// <summary>Actions allowed on the paths a glob matches; <see cref="LoopbackOnly"/> limits it to local clients.</summary>
/// <param name="Actions">What is allowed.</param>
/// <param name="Paths">Where.</param>
/// <param name="LoopbackOnly">Only for clients on a loopback address that name this machine in their Host header.</param>
public sealed record Permission(OspreyAction Actions, PathGlob Paths, bool LoopbackOnly = false)
{
    /// <summary>A second glob a path must also match (a token scoped within a user's permission).</summary>
    public PathGlob? Within { get; init; }

    /// <summary>True when this permission allows <paramref name="action"/> on <paramref name="path"/> for the client.</summary>
    public bool Allows(OspreyAction action, string? path, bool clientIsLocal) =>
        (Actions & action) == action && (!LoopbackOnly || clientIsLocal)
        && (path is null || (Paths.Matches(path) && (Within is null || Within.Matches(path))));

    /// <summary>E.g. <c>read,publish on **</c>.</summary>
    public override string ToString() => $"{OspreyActions.Format(Actions)} on {Paths}{(LoopbackOnly ? " from loopback" : "")}";
}

/// <summary>Who a request is and what it may do.</summary>
/// <param name="Name">The user, <c>token</c> for a configured token, or <c>anonymous</c>.</param>
/// <param name="Permissions">What it may do.</param>
public sealed record OspreyPrincipal(string Name, IReadOnlyList<Permission> Permissions)
{
    /// <summary>The name of requests that present no credentials.</summary>
    public const string AnonymousName = "anonymous";

    /// <summary>True when any permission allows <paramref name="action"/> on <paramref name="path"/> (null: on some path).</summary>
    public bool Allows(OspreyAction action, string? path, bool clientIsLocal)
    {
        foreach (var permission in Permissions)
        {
            if (permission.Allows(action, path, clientIsLocal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>This principal narrowed to <paramref name="actions"/> on <paramref name="paths"/> (a scoped token).</summary>
    public OspreyPrincipal Narrow(OspreyAction actions, PathGlob paths)
    {
        var narrowed = new List<Permission>(Permissions.Count);
        foreach (var permission in Permissions)
        {
            var both = permission.Actions & actions;
            if (both != OspreyAction.None)
            {
                // A path must match both the user's glob and the token's: kept as two checks in one permission.
                narrowed.Add(new Permission(both, paths, permission.LoopbackOnly) { Within = permission.Paths });
            }
        }

        return this with { Permissions = narrowed };
    }
}
