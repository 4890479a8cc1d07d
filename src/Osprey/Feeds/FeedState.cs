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
