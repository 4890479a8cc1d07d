using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Sources;
using Osprey.Sources.V4L2;

namespace Osprey.Tests.Sources.V4L2;

/// <summary>The capture loop against <see cref="FakeV4L2Driver"/>: ownership of mmap buffers, faults and reconnects.</summary>
public sealed class V4L2CaptureTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private static V4L2Options Options(string format = "yuyv", double timeout = 5) =>
        new() { Device = "/dev/video0", Format = format, Width = 64, Height = 16, Buffers = 6, TimeoutSeconds = timeout };

    private static async Task<Frame> NextFrameAsync(FeedReader reader)
    {
        using var timeout = new CancellationTokenSource(s_wait);
        while (true)
        {
            var waiting = reader.WaitAsync().AsTask();
            Assert.True(await Task.WhenAny(waiting, Task.Delay(s_wait)) == waiting, "no frame within 10 s");
            Assert.True(await waiting, "the reader was closed");
            if (reader.TryTakeLatest(out var frame))
            {
                return frame;
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + s_wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task FramesArePublishedStraightFromMmapBuffersWholeAndInOrder()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        using var reader = feed.OpenReader();
        supervisor.Start();
        uint last = 0;
        for (var i = 0; i < 50; i++)
        {
            using var lease = new FrameLease(await NextFrameAsync(reader));
            Assert.Equal(MediaFormat.Yuyv, lease.Frame.Format);
            Assert.Equal(64 * 16 * 2, lease.Frame.Length);
            var counter = FakeV4L2Driver.AssertWhole(lease.Frame.Span);
            Assert.True(counter > last, "frames went back in time");
            last = counter;
            Assert.InRange(lease.Frame.CaptureTimeMicros, ProbeHeader.NowMicros() - 5_000_000, ProbeHeader.NowMicros() + 1000);
        }

        Assert.True(source.ZeroCopyFrames > 0, "no frame was published without a copy");
        Assert.Equal(0, driver.QueueErrors);
        Assert.Equal(new VideoInfo(MediaFormat.Yuyv, 64, 16, 30), feed.Info);
    }

    [Fact]
    public async Task ABufferHeldByAReaderIsNeverRequeuedSoItsFrameNeverChanges()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        using var reader = feed.OpenReader();
        supervisor.Start();

        // Hold four frames (more than the buffers that can be lent while two stay with the driver), long
        // enough for the fake to fill each free buffer many times over.
        var held = new List<(Frame Frame, byte[] Copy)>();
        while (held.Count < 4)
        {
            var frame = await NextFrameAsync(reader);
            FakeV4L2Driver.AssertWhole(frame.Span);
            held.Add((frame, frame.Span.ToArray()));
        }

        var produced = driver.FramesProduced;
        await WaitUntilAsync(() => driver.FramesProduced > produced + 100, "100 more frames were captured");
        foreach (var (frame, copy) in held)
        {
            Assert.True(frame.Span.SequenceEqual(copy), "a frame changed while a reader held it: its buffer was requeued");
            FakeV4L2Driver.AssertWhole(frame.Span);
        }

        Assert.True(source.CopiedFrames > 0, "with the lendable buffers held, frames should have been copied to the pool");
        foreach (var (frame, _) in held)
        {
            frame.Release();
        }

        // Released buffers go back to the driver and are lent again.
        var lentBefore = source.ZeroCopyFrames;
        await WaitUntilAsync(() => source.ZeroCopyFrames > lentBefore + 20, "released buffers were lent again");
        Assert.Equal(0, driver.QueueErrors);
    }

    [Fact]
    public async Task ConcurrentReadersHoldingFramesForRandomTimesNeverSeeATornOrChangedFrame()
    {
        var driver = new FakeV4L2Driver { EintrEvery = 7, SpuriousWakeEvery = 5 };
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        supervisor.Start();
        var readers = Enumerable.Range(0, 8).Select(seed => Task.Run(async () =>
        {
            var random = new Random(seed);
            using var reader = feed.OpenReader();
            var frames = 0;
            while (frames < 60)
            {
                using var lease = new FrameLease(await NextFrameAsync(reader));
                var before = lease.Frame.Span.ToArray();
                FakeV4L2Driver.AssertWhole(before);
                await Task.Delay(random.Next(0, 8));
                Assert.True(lease.Frame.Span.SequenceEqual(before), "a held frame changed");
                frames++;
            }
        })).ToArray();
        await Task.WhenAll(readers);
        Assert.Equal(0, driver.QueueErrors);
        Assert.True(source.ZeroCopyFrames > 0);
    }

    [Fact]
    public async Task UnplugLeadsToWaitingThenReconnectAndAttachedReadersKeepGettingFrames()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        using var reader = feed.OpenReader();
        supervisor.Start();
        var held = await NextFrameAsync(reader); // a viewer mid-send when the camera goes
        var before = FakeV4L2Driver.AssertWhole(held.Span);

        driver.Unplug();
        await WaitUntilAsync(() => feed.State is FeedState.Waiting && feed.StateDetail == "waiting for device /dev/video0", "the feed waits for the device");
        Assert.False(source.IsOpen);
        FakeV4L2Driver.AssertWhole(held.Span); // its mapping outlives the run
        held.Release();

        driver.Plug();
        await WaitUntilAsync(() => feed.State == FeedState.Running && driver.Opens == 2, "the source reconnected");
        using var after = new FrameLease(await NextFrameAsync(reader));
        Assert.True(FakeV4L2Driver.AssertWhole(after.Frame.Span) > before);
        Assert.False(reader.IsClosed);
        Assert.Equal(1, supervisor.Restarts);
    }

    [Fact]
    public async Task ADeviceMissingAtStartIsWaitedForAndThenCaptured()
    {
        var driver = new FakeV4L2Driver();
        driver.Unplug();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        await using var supervisor = new SourceSupervisor(source, feed, NullLogger.Instance);
        using var reader = feed.OpenReader();
        supervisor.Start();
        await WaitUntilAsync(() => feed.State == FeedState.Waiting, "the feed waits");
        Assert.Equal("waiting for device /dev/video0", feed.StateDetail);
        driver.Plug();
        using var frame = new FrameLease(await NextFrameAsync(reader));
        FakeV4L2Driver.AssertWhole(frame.Frame.Span);
        Assert.Equal(0, supervisor.Restarts);
    }

    [Fact]
    public async Task AFormatTheCameraRefusesFailsTheRunWithTheFormatsItOffers()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options("h264"), driver);
        using var feed = new Feed("cam");
        var error = await Assert.ThrowsAsync<V4L2Exception>(() => source.RunAsync(feed, CancellationToken.None));
        Assert.Contains("refused format H264", error.Message, StringComparison.Ordinal);
        Assert.Contains("it offers: YUYV", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoFrameWithinTheTimeoutEndsTheRunSoTheDeviceIsReopened()
    {
        var driver = new FakeV4L2Driver { Stalled = true };
        var source = new V4L2Source(Options(timeout: 0.3), driver);
        using var feed = new Feed("cam");
        var error = await Assert.ThrowsAsync<V4L2Exception>(() => source.RunAsync(feed, CancellationToken.None));
        Assert.Equal(Osprey.Interop.Libc.Errors.ETIMEDOUT, error.Errno);
        Assert.Contains("no frame for 0.3 s", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, source.Timeouts);
    }

    [Fact]
    public async Task CancellationStopsTheCaptureThreadPromptly()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        using var stop = new CancellationTokenSource();
        var run = source.RunAsync(feed, stop.Token);
        await WaitUntilAsync(() => feed.Frames > 5, "frames flow");
        stop.Cancel();
        var ended = await Task.WhenAny(run, Task.Delay(2000));
        Assert.Same(run, ended);
        Assert.True(run.IsCanceled);
    }

    [Fact]
    public async Task ControlsAreListedByNameAndSetWithinTheirRange()
    {
        var driver = new FakeV4L2Driver();
        var source = new V4L2Source(Options(), driver);
        using var feed = new Feed("cam");
        Assert.Throws<InvalidOperationException>(() => source.GetControls());
        using var stop = new CancellationTokenSource();
        var run = source.RunAsync(feed, stop.Token);
        await WaitUntilAsync(() => source.IsOpen, "the device is open");
        var controls = source.GetControls();
        Assert.Equal(["brightness", "contrast"], controls.Select(c => c.Name));
        Assert.Equal(128, controls[0].Value);
        Assert.True(controls[1].ReadOnly);
        Assert.Equal(200, source.SetControl("brightness", 200).Value);
        Assert.Equal(200, driver.Brightness);
        Assert.Throws<ArgumentOutOfRangeException>(() => source.SetControl("brightness", 300));
        Assert.Throws<InvalidOperationException>(() => source.SetControl("contrast", 1));
        Assert.Throws<KeyNotFoundException>(() => source.SetControl("zoom", 1));
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public void AnExternalFrameCallsItsOwnerOnTheLastReleaseAndCanBeAcquiredAgain()
    {
        var memory = GC.AllocateArray<byte>(64, pinned: true);
        var released = 0;
        var frame = Frame.CreateExternal(new NativeMemoryManager(System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(memory, 0), 64), _ => released++);
        frame.AcquireExternal(10);
        Assert.True(frame.IsExternal);
        Assert.False(frame.TryGetSegment(out _));
        Assert.Throws<InvalidOperationException>(() => frame.Segment);
        memory[3] = 42;
        Assert.Equal(42, frame.Span[3]);
        Assert.Equal(10, frame.Memory.Length);
        frame.AddReference();
        Assert.Throws<InvalidOperationException>(() => frame.AcquireExternal(10));
        frame.Release();
        Assert.Equal(0, released);
        frame.Release();
        Assert.Equal(1, released);
        frame.AcquireExternal(64);
        Assert.Equal(1, frame.References);
    }

    [Theory]
    [InlineData("v4l2:///dev/video0?format=yuyv&width=640&height=480&fps=30", "/dev/video0", "yuyv", 640, 480)]
    [InlineData("v4l2:///dev/v4l/by-id/usb-cam-video-index0?format=mjpeg&width=1280&height=720", "/dev/v4l/by-id/usb-cam-video-index0", "mjpeg", 1280, 720)]
    [InlineData("v4l2:/dev/video2", "/dev/video2", "yuyv", 640, 480)]
    public void SourceUrisParse(string uri, string device, string format, int width, int height)
    {
        var source = Assert.IsType<V4L2Source>(SourceFactory.Create(uri));
        Assert.Equal(device, source.Options.Device);
        Assert.Equal(format, source.Options.Format);
        Assert.Equal((width, height), (source.Options.Width, source.Options.Height));
    }

    [Theory]
    [InlineData("v4l2:///dev/video0?format=rgb24", "format 'rgb24'")]
    [InlineData("v4l2:///dev/video0?buffers=2", "buffers=2")]
    [InlineData("v4l2:video0", "absolute path")]
    public void BadSourceUrisSayWhy(string uri, string expected)
    {
        var error = Assert.Throws<FormatException>(() => SourceFactory.Create(uri));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Exposure Time, Absolute", "exposure_time_absolute")]
    [InlineData("H264 I-Frame Period", "h264_i_frame_period")]
    [InlineData("Brightness", "brightness")]
    public void ControlNamesAreSpelledAsV4l2CtlSpellsThem(string label, string name) =>
        Assert.Equal(name, V4L2Queries.ControlName(label));
}
