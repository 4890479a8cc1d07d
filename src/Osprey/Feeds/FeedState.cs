namespace Osprey.Feeds;

/// <summary>Where a feed is in its life.</summary>
public enum FeedState
{
    /// <summary>Created; its source has not produced a frame yet.</summary>
    Starting,

    /// <summary>Its source is producing frames.</summary>
    Running,

    /// <summary>Its source failed and is waiting to be restarted; viewers stay connected.</summary>
    Restarting,

    /// <summary>Waiting for a device or a publisher to appear.</summary>
    Waiting,

    /// <summary>Shut down.</summary>
    Stopped,
}

/// <summary>Feed states in the API's words.</summary>
public static class FeedStateNames
{
    /// <summary>Every state, in the order of the enum: /metrics writes a 0/1 series for each.</summary>
    public static IReadOnlyList<FeedState> All { get; } = Enum.GetValues<FeedState>();

    /// <summary>The state as <c>/api/feeds</c> and <c>/metrics</c> name it (<c>running</c>, <c>waiting</c>, ...).</summary>
    public static string ToApiName(this FeedState state) => state switch
    {
        FeedState.Starting => "starting",
        FeedState.Running => "running",
        FeedState.Restarting => "restarting",
        FeedState.Waiting => "waiting",
        _ => "stopped",
    };
}
