using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Transforms;

namespace Osprey.Tests.Transforms;

public class H264EncodeTransformTests
{
    [Fact]
    [Trait("Needs", "Process")]
    [Trait("Needs", "Ffmpeg")]
    public async Task AnEncoderThatEndsWhileWatched_PutsFfmpegsLastErrorLinesInTheFeedsState()
    {
        // 0x0 is no picture size: ffmpeg refuses it at once, on stderr, and exits.
        using var source = new Feed("cam") { Info = new VideoInfo(MediaFormat.Yuyv, 0, 0, 30) };
        await using var encoder = new H264EncodeTransform(source, NullLogger.Instance);
        using var viewer = encoder.Output.OpenReader();
        for (var i = 0; i < 200 && encoder.Output.State != FeedState.Restarting; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(FeedState.Restarting, encoder.Output.State);
        Assert.StartsWith("the H.264 encoder ended: ffmpeg exited with code 1: ", encoder.Output.StateDetail, StringComparison.Ordinal);
        Assert.Contains("0x0", encoder.Output.StateDetail, StringComparison.Ordinal);
        Assert.Equal(0, encoder.EncodedFrames);
    }
}
