namespace Osprey.Routing;

/// <summary>Why a stream or destination rule from a client was not stored.</summary>
public enum RuleRefusal
{
    /// <summary>Stored.</summary>
    None,

    /// <summary>The name would shadow another feed's URL or a configured source's name.</summary>
    Shadowing,

    /// <summary>A new rule, and the registry's limit of rules is reached.</summary>
    Limit,

    /// <summary>The rule itself is refused (too many feeds, a target that is not allowed).</summary>
    Invalid,

    /// <summary>The rule's target or its token's transport is not allowed (<see cref="DestinationTargetPolicy"/>).</summary>
    NotAllowed,
}

/// <summary>What <see cref="StreamRegistry.TrySet"/> did: the stored name and feeds, or why nothing was stored.</summary>
public readonly record struct StreamSetResult(string Name, IReadOnlyList<string> Feeds, RuleRefusal Refusal, string? Error);
