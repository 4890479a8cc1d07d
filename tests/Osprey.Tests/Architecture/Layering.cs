namespace Osprey.Tests.Architecture;

/// <summary>
/// A table of areas (a namespace and everything under it) with ranks: an area may depend only on areas of lower
/// rank. Inside an area a namespace may use its ancestors, and the area's root namespace its children (a
/// factory that knows every family), but sibling namespaces (one source family and another) never use each
/// other. Every namespace must belong to an area, so a new folder has to be placed in the table.
/// </summary>
internal sealed class Layering(IReadOnlyList<(string Area, int Rank)> areas)
{
    /// <summary>The area a namespace is in: the longest area that is the namespace or one of its ancestors.</summary>
    public (string Area, int Rank)? AreaOf(string ns)
    {
        (string Area, int Rank)? best = null;
        foreach (var area in areas)
        {
            var inside = ns == area.Area || ns.StartsWith(area.Area + ".", StringComparison.Ordinal);
            if (inside && (best is null || area.Area.Length > best.Value.Area.Length))
            {
                best = area;
            }
        }

        return best;
    }

    /// <summary>Why the dependency <paramref name="from"/> → <paramref name="to"/> is not allowed; null when it is.</summary>
    public string? Check(string from, string to)
    {
        if (AreaOf(from) is not { } source)
        {
            return $"{from} is in no area of the layering table";
        }

        if (AreaOf(to) is not { } target)
        {
            return $"{to} is in no area of the layering table";
        }

        if (source.Area == target.Area)
        {
            var ancestor = from.StartsWith(to + ".", StringComparison.Ordinal);
            var fromRoot = from == source.Area;
            return ancestor || fromRoot ? null : $"{from} and {to} are siblings in {source.Area}: neither may use the other";
        }

        return target.Rank < source.Rank ? null
            : $"{source.Area} (rank {source.Rank}) may not depend on {target.Area} (rank {target.Rank})";
    }

    /// <summary>Every disallowed dependency among <paramref name="edges"/>, with where it is.</summary>
    public IReadOnlyList<string> Violations(IReadOnlyDictionary<(string From, string To), string> edges)
    {
        var violations = new List<string>();
        foreach (var ((from, to), where) in edges.OrderBy(e => e.Key.From, StringComparer.Ordinal).ThenBy(e => e.Key.To, StringComparer.Ordinal))
        {
            if (Check(from, to) is { } reason)
            {
                violations.Add($"{from} -> {to}: {reason} ({where})");
            }
        }

        return violations;
    }
}
