namespace Osprey.Sources.V4L2;

/// <summary>A capture device as <c>osprey devices</c> shows it.</summary>
public sealed record V4L2DeviceEntry(string Node, IReadOnlyList<string> StablePaths, V4L2Capabilities? Capabilities, IReadOnlyList<V4L2FormatDescription> Formats, string? Error);

/// <summary>Finds V4L2 devices: /dev/video* nodes, with the stable /dev/v4l/by-id and by-path links that name them.</summary>
public static class V4L2DeviceList
{
    /// <summary>The default camera node, served when Osprey starts without sources.</summary>
    public const string DefaultDevice = "/dev/video0";

    /// <summary>Every /dev/video* node with what it can do (a node that fails to open carries the error).</summary>
    public static IReadOnlyList<V4L2DeviceEntry> Enumerate() => Enumerate(LinuxV4L2Driver.Instance, "/dev");

    internal static List<V4L2DeviceEntry> Enumerate(IV4L2Driver driver, string dev)
    {
        var links = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var folder in new[] { Path.Combine(dev, "v4l", "by-id"), Path.Combine(dev, "v4l", "by-path") })
        {
            if (!Directory.Exists(folder))
            {
                continue;
            }

            foreach (var link in Directory.EnumerateFileSystemEntries(folder).Order(StringComparer.Ordinal))
            {
                var target = new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
                if (target is not null)
                {
                    if (!links.TryGetValue(target, out var list))
                    {
                        links[target] = list = [];
                    }

                    list.Add(link);
                }
            }
        }

        var entries = new List<V4L2DeviceEntry>();
        if (!Directory.Exists(dev))
        {
            return entries;
        }

        var nodes = Directory.EnumerateFileSystemEntries(dev, "video*")
            .OrderBy(n => int.TryParse(Path.GetFileName(n).AsSpan(5), out var number) ? number : int.MaxValue);
        foreach (var node in nodes)
        {
            var stable = links.TryGetValue(node, out var found) ? found : [];
            try
            {
                using var device = driver.Open(node);
                var caps = V4L2Queries.QueryCapabilities(device);
                var formats = caps.CanCapture ? V4L2Queries.EnumerateFormats(device) : [];
                entries.Add(new V4L2DeviceEntry(node, stable, caps, formats, null));
            }
            catch (Exception ex) when (ex is V4L2Exception or PlatformNotSupportedException or IOException or UnauthorizedAccessException)
            {
                entries.Add(new V4L2DeviceEntry(node, stable, null, [], ex.Message));
            }
        }

        return entries;
    }
}
