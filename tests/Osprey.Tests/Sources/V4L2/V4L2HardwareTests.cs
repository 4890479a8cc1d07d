using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Sources;
using Osprey.Sources.V4L2;
using Xunit.Abstractions;

namespace Osprey.Tests.Sources.V4L2;

/// <summary>Against a real camera, when the machine has one (see <see cref="HardwareFactAttribute"/>).</summary>
public sealed class V4L2HardwareTests(ITestOutputHelper output)
{
    [HardwareFact]
    public async Task TheFirstCaptureDeviceDeliversFramesInAFormatItOffers()
    {
        var device = V4L2DeviceList.Enumerate().FirstOrDefault(d => d.Capabilities?.CanCapture == true && d.Formats.Count > 0);
        Assert.True(device is not null, "no /dev/video* node is a capture device Osprey can open");
        var format = device.Formats.FirstOrDefault(f => V4L2Formats.ToMediaFormat(f.FourCc) != MediaFormat.Unknown);
        Assert.True(format is not null, $"{device.Node} offers no format Osprey captures ({string.Join(", ", device.Formats.Select(f => f.Name))})");
        var size = format.Sizes.Count > 0 ? format.Sizes[0] : new V4L2FrameSize(640, 480, []);
        var name = V4L2Formats.ToMediaFormat(format.FourCc) switch
        {
            MediaFormat.Jpeg => "mjpeg",
            MediaFormat.H264 => "h264",
            MediaFormat.Nv12 => "nv12",
            _ => "yuyv",
        };
        var source = new V4L2Source(new V4L2Options { Device = device.Node, Format = name, Width = size.Width, Height = size.Height, Fps = 30 });
        using var feed = new Feed("hw");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        using var reader = feed.OpenReader();
        supervisor.Start();
        for (var i = 0; i < 30; i++)
        {
            var waiting = reader.WaitAsync().AsTask();
            Assert.True(await Task.WhenAny(waiting, Task.Delay(10_000)) == waiting, $"no frame from {device.Node} within 10 s");
            if (reader.TryTakeLatest(out var frame))
            {
                frame.Release();
            }
        }

        output.WriteLine($"{device.Node}: {feed.Info}; zero-copy {source.ZeroCopyFrames}, copied {source.CopiedFrames}, dropped {source.DroppedFrames}");
        Assert.True(feed.Frames >= 30);
    }
}
