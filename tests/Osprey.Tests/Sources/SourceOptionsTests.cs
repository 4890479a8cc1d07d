using Osprey.Sources;
using Osprey.Sources.Ffmpeg;
using Osprey.Sources.OpenMv;
using Osprey.Sources.V4L2;

namespace Osprey.Tests.Sources;

/// <summary>The one parser of source URI options, as every source family uses it.</summary>
public class SourceOptionsTests
{
    [Fact]
    public void Parse_SplitsTheBodyFromPercentDecodedOptions()
    {
        var options = SourceOptions.Parse("v4l2:///dev/video0?format=MJPEG&width=1280&name=a%20b&flag");

        Assert.Equal("v4l2:///dev/video0", options.Body);
        Assert.Equal("MJPEG", options.GetString("format", ""));
        Assert.Equal(1280, options.GetInt("WIDTH", 0)); // keys compare without case, as query keys did
        Assert.Equal("a b", options.GetString("name", ""));
        Assert.True(options.TryGet("flag", out var flag));
        Assert.Equal("", flag);
    }

    [Fact]
    public void Parse_WithAHashSeparator_KeepsQuestionMarksInTheBody()
    {
        var options = SourceOptions.Parse("ffmpeg:-i http://cam/video?x=1#output=h264", '#');

        Assert.Equal("ffmpeg:-i http://cam/video?x=1", options.Body);
        Assert.Equal("h264", options.GetString("output", ""));
        Assert.False(options.TryGet("x", out _));
    }

    [Theory]
    [InlineData("testpattern:?width=wide", "width='wide' is not a whole number")]
    [InlineData("testpattern:?width=", "width='' is not a whole number")]
    [InlineData("testpattern:?fps=NaN", "fps='NaN' is not a number")]
    [InlineData("testpattern:?fps=1e400", "fps='1e400' is not a number")]
    [InlineData("testpattern:?width=99999999999", "width='99999999999' is not a whole number")]
    [InlineData("testpattern:?widht=640", "unknown option 'widht' (known: width, height, fps, failAfter)")]
    [InlineData("v4l2:///dev/video0?buffer=4", "unknown option 'buffer'")]
    [InlineData("openmv:///dev/ttyACM0?baud=12", "baud='12' must be a whole number from 50 to 4000000")]
    [InlineData("openmv:///dev/ttyACM0?ack=2", "ack='2' must be a whole number from 0 to 1")]
    [InlineData("openmv:///dev/ttyACM0?speed=1", "unknown option 'speed'")]
    [InlineData("ffmpeg:-i x#gop=0", "gop='0' must be a whole number from 1 to 1000")]
    [InlineData("ffmpeg:-i x#fps=999", "fps='999' must be a number from 0.1 to 240")]
    [InlineData("ffmpeg:-i x#codec=h265", "only codec=copy is known")]
    [InlineData("ffmpeg:-i x#colour=red", "unknown option 'colour' (known: output, size, fps, qscale, bitrate, gop, codec, frameTimeout)")]
    public void BadOptions_AreRefusedWithAMessageNamingTheUri(string uri, string expected)
    {
        var error = Assert.Throws<FormatException>(() => SourceFactory.Create(uri));

        Assert.StartsWith($"Source '{uri}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RefusesMoreOptionsThanAPersonTypes()
    {
        var uri = "testpattern:?" + string.Join('&', Enumerable.Range(0, SourceOptions.MaxOptions + 1).Select(i => $"k{i}=1"));

        var error = Assert.Throws<FormatException>(() => SourceOptions.Parse(uri));

        Assert.Contains($"more than {SourceOptions.MaxOptions} options", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeepsMalformedPercentEscapesAsTheyAre()
    {
        var options = SourceOptions.Parse("testpattern:?width=%zz&&&height=%");

        Assert.Equal("%zz", options.GetString("width", ""));
        Assert.Equal("%", options.GetString("height", ""));
    }

    [Fact]
    public void EveryFamily_ReadsItsOptionsThroughTheSameParser()
    {
        var camera = V4L2Options.Parse("v4l2:///dev/video2?format=MJPEG&width=1280&height=720&fps=15&buffers=8&timeout=2");
        Assert.Equal(("/dev/video2", "mjpeg", 1280, 720, 15.0, 8, 2.0), (camera.Device, camera.Format, camera.Width, camera.Height, camera.Fps, camera.Buffers, camera.TimeoutSeconds));

        var openMv = OpenMvOptions.Parse("openmv:///dev/ttyACM0?baud=921600&payload=2048&ack=0&events=1&timeout=500&poll=5");
        Assert.Equal((921600, 2048, false, true, 500.0, 5.0), (openMv.BaudRate, openMv.MaxPayload, openMv.Acks, openMv.Events, openMv.RequestTimeout.TotalMilliseconds, openMv.PollInterval.TotalMilliseconds));

        var ffmpeg = FfmpegOptions.Parse("ffmpeg:-re -i in.mp4#output=h264&size=320x240&fps=25&bitrate=800&gop=50");
        Assert.Equal((FfmpegOutput.H264, 320, 240, 25.0, 800, 50), (ffmpeg.Output, ffmpeg.Width, ffmpeg.Height, ffmpeg.Fps, ffmpeg.BitrateKbps, ffmpeg.Gop));
    }

    [Fact]
    public void OpenMvChannel_DefaultsToTheStream_NamesAScriptsChannel_AndRefusesWhatNoChannelListHolds()
    {
        Assert.True(OpenMvOptions.Parse("openmv:///dev/ttyACM0").IsStreamChannel);
        var frame = OpenMvOptions.Parse("openmv:///dev/ttyACM0?channel=frame");
        Assert.Equal("frame", frame.Channel);
        Assert.False(frame.IsStreamChannel);
        Assert.EndsWith("&channel=frame", frame.ToUri(), StringComparison.Ordinal);
        Assert.Equal("frame", OpenMvOptions.Parse(frame.ToUri()).Channel);

        Assert.Throws<FormatException>(() => OpenMvOptions.Parse("openmv:///dev/ttyACM0?channel="));
        Assert.Throws<FormatException>(() => OpenMvOptions.Parse("openmv:///dev/ttyACM0?channel=fourteen-chars"));
        Assert.Throws<FormatException>(() => OpenMvOptions.Parse("openmv:///dev/ttyACM0?channel=a%20b"));
    }
}
