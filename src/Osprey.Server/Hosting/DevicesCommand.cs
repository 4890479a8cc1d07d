using System.Globalization;
using Osprey.Sources.V4L2;

namespace Osprey.Server.Hosting;

/// <summary><c>osprey devices</c>: cameras by stable path with formats, sizes and rates, like <c>v4l2-ctl --list-devices --list-formats-ext</c>.</summary>
internal static class DevicesCommand
{
    public static int Run(TextWriter output)
    {
        var devices = V4L2DeviceList.Enumerate();
        if (devices.Count == 0)
        {
            output.WriteLine("No V4L2 devices: there is no /dev/video* on this machine (no camera attached, or its driver is not loaded).");
            output.WriteLine("Without flags Osprey serves the test pattern as feed 'test'.");
            return 0;
        }

        foreach (var device in devices)
        {
            var caps = device.Capabilities;
            output.WriteLine(caps is null
                ? $"{device.Node}: {device.Error}"
                : $"{caps.Card} ({caps.Driver}, {caps.BusInfo}): {device.Node}{(caps.CanCapture ? "" : "  [not a capture node: metadata or output]")}");
            foreach (var link in device.StablePaths)
            {
                output.WriteLine($"    {link}");
            }

            foreach (var format in device.Formats)
            {
                output.WriteLine($"  [{format.Name}] {format.Description}  -> v4l2://{device.StablePaths.FirstOrDefault(p => p.Contains("/by-id/", StringComparison.Ordinal)) ?? device.Node}?format={FormatParameter(format.FourCc)}");
                foreach (var size in format.Sizes)
                {
                    var rates = size.Fps.Count > 0
                        ? string.Join(", ", size.Fps.Select(f => f.ToString("0.###", CultureInfo.InvariantCulture)))
                        : size.Range ?? "?";
                    output.WriteLine($"      {size.Width}x{size.Height}  fps: {rates}");
                }
            }

            output.WriteLine();
        }

        return 0;
    }

    private static string FormatParameter(uint fourCc) => V4L2Formats.ToMediaFormat(fourCc) switch
    {
        Media.MediaFormat.Yuyv => "yuyv",
        Media.MediaFormat.Nv12 => "nv12",
        Media.MediaFormat.Jpeg => "mjpeg",
        Media.MediaFormat.H264 => "h264",
        _ => "(not supported by Osprey)",
    };
}
