namespace Osprey.Transforms;

/// <summary>How JPEG is made, and whether it can be.</summary>
public sealed record JpegSettings
{
    /// <summary>JPEG quality 1-100 for encoded frames (default 80).</summary>
    public int Quality { get; init; } = 80;

    /// <summary>False when libjpeg-turbo could not be loaded.</summary>
    public bool Available { get; init; } = true;

    /// <summary>Why JPEG is unavailable, naming the package to install.</summary>
    public string? UnavailableReason { get; init; }
}
