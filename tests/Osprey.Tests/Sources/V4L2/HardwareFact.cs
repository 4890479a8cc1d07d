namespace Osprey.Tests.Sources.V4L2;

/// <summary>
/// A fact that needs a real camera: skipped, with the reason computed at run time, on machines without
/// /dev/video* (CI, this development machine), and run where one exists.
/// </summary>
public sealed class HardwareFactAttribute : FactAttribute
{
    public HardwareFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/dev") || !Directory.EnumerateFileSystemEntries("/dev", "video*").Any())
        {
            Skip = NoDeviceReason;
        }
    }

    /// <summary>Why hardware tests do not run here.</summary>
    public static string NoDeviceReason => "no /dev/video* on this machine: real-camera capture is proven only on hardware (docs/architecture.md)";
}
