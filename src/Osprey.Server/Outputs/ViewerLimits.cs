namespace Osprey.Server.Outputs;

/// <summary>What one viewer connection may cost the server: how long a send may stall, how many bytes it may hold queued.</summary>
internal sealed record ViewerLimits
{
    /// <summary>The default <see cref="SendTimeout"/>.</summary>
    public static readonly TimeSpan DefaultSendTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The default <see cref="MaxQueuedBytes"/>: a few raw 640x480 frames, or seconds of a TS stream.</summary>
    public const long DefaultMaxQueuedBytes = 8 * 1024 * 1024;

    /// <summary>A viewer whose socket takes nothing of a send for this long is dropped (counted); zero turns it off.</summary>
    public TimeSpan SendTimeout { get; init; } = DefaultSendTimeout;

    /// <summary>The most bytes of frames an ordered (stream) viewer may hold queued before it skips ahead or is dropped.</summary>
    public long MaxQueuedBytes { get; init; } = DefaultMaxQueuedBytes;
}
