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
        // The encoder starts at the first frame, with its size: 1x1 is one libx264 refuses at once, on stderr.
        using var source = new Feed("cam") { Info = new VideoInfo(MediaFormat.Yuyv, 1, 1, 30) };
        await using var encoder = new H264EncodeTransform(source, NullLogger.Instance);
        using var viewer = encoder.Output.OpenReader();
        for (var i = 0; i < 200 && encoder.Output.State != FeedState.Restarting; i++)
        {
            var frame = source.Pool.Rent(2);
            frame.GetWritableSpan(2).Fill(0x80);
            frame.StampCaptured(MediaFormat.Yuyv, 1, 1, true, ProbeHeader.NowMicros());
            source.Publish(frame);
            await Task.Delay(50);
        }

        Assert.Equal(FeedState.Restarting, encoder.Output.State);
        Assert.StartsWith("the H.264 encoder ended: ffmpeg exited with code 1: ", encoder.Output.StateDetail, StringComparison.Ordinal);
        Assert.Contains("1x1", encoder.Output.StateDetail, StringComparison.Ordinal);
        Assert.Equal(0, encoder.EncodedFrames);
    }
}
