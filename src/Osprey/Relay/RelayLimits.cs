namespace Osprey.Relay;

/// <summary>What one relay topic client may cost: how long it may stall or stay silent, how many bytes it may hold queued.</summary>
public sealed record RelayLimits
{
    /// <summary>A client whose socket takes nothing of a send for this long is dropped; zero: never. Default 10 s.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A client that sends and is sent nothing (pings count) for this long is dropped; zero: never. Default 60 s.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The most bytes of messages queued for one client; a message that would go over is dropped for it (counted). Default 16 MiB.</summary>
    public long MaxQueuedBytes { get; init; } = 16L * 1024 * 1024;
}
