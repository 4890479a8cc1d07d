using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Codecs.H264;
using Osprey.Codecs.Jpeg;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;
using static Osprey.Interop.Libc;
using static Osprey.Interop.V4L2;

namespace Osprey.Sources.V4L2;

/// <summary>
/// A camera through V4L2 with mmap buffers: <c>v4l2:///dev/video0?format=yuyv&amp;width=640&amp;height=480&amp;fps=30</c>.
/// </summary>
/// <remarks>
/// <para>Each run waits for the device node (feed state <c>waiting</c>), opens it non-blocking, negotiates the
/// format, size and rate, maps the buffers and captures on a dedicated thread: <c>poll</c> with a timeout, then
/// VIDIOC_DQBUF. Raw and H.264 frames are published without a copy: the frame wraps the mmap buffer, which goes
/// back to the driver only after its last reader releases it. When fewer than two buffers would be left with
/// the driver, the frame is copied to the feed's pool instead (counted in <see cref="CopiedFrames"/>), so that
/// readers never starve the camera. MJPEG is copied once, to put the probe COM segment after SOI.</para>
/// <para>Any failure (unplugged: ENODEV; a stuck driver: no frame within the timeout; a refused format) ends
/// the run with an exception; the supervisor starts the next run with backoff, and viewers stay attached to
/// the feed meanwhile.</para>
/// </remarks>
public sealed partial class V4L2Source : IFrameSource, ICounted
{
    // Short poll slices keep cancellation prompt without an extra wake-up descriptor.
    private const int PollSliceMilliseconds = 200;

    // Buffers kept with the driver: below this, a frame is copied rather than lent to readers.
    private const int MinQueuedInDriver = 2;

    private readonly IV4L2Driver _driver;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _deviceLock = new();
    private IV4L2Device? _device;
    private long _zeroCopyFrames;
    private long _copiedFrames;
    private long _droppedFrames;
    private long _timeouts;
    private uint _counter;

    /// <summary>Creates the source for a real device.</summary>
    public V4L2Source(V4L2Options options, ILogger? logger = null, TimeProvider? time = null)
        : this(options, LinuxV4L2Driver.Instance, logger, time)
    {
    }

    internal V4L2Source(V4L2Options options, IV4L2Driver driver, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _driver = driver;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The source's options.</summary>
    public V4L2Options Options { get; }

    /// <inheritdoc />
    public string Uri => Options.ToUri();

    /// <inheritdoc />
    public VideoInfo ExpectedInfo => new(Options.MediaFormat, Options.Width, Options.Height, Options.Fps);

    /// <summary>What the driver chose in the current or last run (null before the first negotiation).</summary>
    public V4L2PixelFormat? Negotiated { get; private set; }

    /// <summary>Frames published straight from mmap buffers.</summary>
    public long ZeroCopyFrames => Interlocked.Read(ref _zeroCopyFrames);

    /// <summary>Frames copied to the pool (MJPEG, or raw frames while readers held too many buffers).</summary>
    public long CopiedFrames => Interlocked.Read(ref _copiedFrames);

    /// <summary>Buffers the driver marked as broken (V4L2_BUF_FLAG_ERROR, empty or not a JPEG), skipped.</summary>
    public long DroppedFrames => Interlocked.Read(ref _droppedFrames);

    /// <summary>Runs ended because no frame came within the timeout.</summary>
    public long Timeouts => Interlocked.Read(ref _timeouts);

    /// <inheritdoc />
    public PartCounters ReadCounters() => new(
        "v4l2",
        IsOpen ? "open" : "closed",
        Negotiated is { } format ? FormattableString.Invariant($"{format.Width}x{format.Height}") : null,
        new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["zeroCopyFrames"] = ZeroCopyFrames,
            ["copiedFrames"] = CopiedFrames,
            ["droppedFrames"] = DroppedFrames,
            ["timeouts"] = Timeouts,
        });

    /// <summary>True while a run has the device open (controls can be read and set).</summary>
    public bool IsOpen
    {
        get
        {
            lock (_deviceLock)
            {
                return _device is not null;
            }
        }
    }

    /// <inheritdoc />
    public Task RunAsync(Feed feed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A dedicated thread: poll and ioctl block, and the loop must never wait behind the thread pool.
        var thread = new Thread(() =>
        {
            try
            {
                Capture(feed, cancellationToken);
                done.TrySetResult();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellationToken);
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = $"v4l2 {feed.Name}",
        };
        thread.Start();
        return done.Task;
    }

    private void Capture(Feed feed, CancellationToken cancellationToken)
    {
        var path = Options.Device;
        WaitForDevice(feed, path, cancellationToken);
        IV4L2Device device;
        try
        {
            device = _driver.Open(path);
        }
        catch (V4L2Exception ex)
        {
            Log.OpenFailed(_logger, path, ex.Message);
            throw;
        }

        using (device)
        {
            var buffers = Negotiate(feed, device);
            try
            {
                lock (_deviceLock)
                {
                    _device = device;
                }

                Stream(feed, device, buffers, cancellationToken);
            }
            catch (V4L2Exception ex) when (ex.IsDeviceGone)
            {
                Log.DeviceGone(_logger, path, ex.Message);
                feed.SetState(FeedState.Waiting, $"device {path} went away; waiting for it to come back");
                throw;
            }
            finally
            {
                lock (_deviceLock)
                {
                    _device = null;
                }

                var type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
                _ = device.Ioctl(VIDIOC_STREAMOFF, ref type); // fails harmlessly on an unplugged device
                buffers.Close();
            }
        }
    }

    private void WaitForDevice(Feed feed, string path, CancellationToken cancellationToken)
    {
        if (_driver.Exists(path))
        {
            return;
        }

        Log.WaitingForDevice(_logger, path);
        feed.SetState(FeedState.Waiting, $"waiting for device {path}");
        // Hot-plug: a stat every half second costs nothing; udev creates the node when the camera comes.
        while (!_driver.Exists(path))
        {
            cancellationToken.WaitHandle.WaitOne(500);
            cancellationToken.ThrowIfCancellationRequested();
        }

        Log.DeviceAppeared(_logger, path);
    }

    private V4L2BufferSet Negotiate(Feed feed, IV4L2Device device)
    {
        var path = device.Path;
        var caps = V4L2Queries.QueryCapabilities(device);
        if (!caps.CanCapture)
        {
            throw new V4L2Exception($"{path} ({caps.Card}, driver {caps.Driver}) is not a single-planar video capture device with streaming I/O (capabilities 0x{caps.NodeCapabilities:x8}); 'osprey devices' lists the ones that are.");
        }

        var requested = Options.FourCc;
        var chosen = V4L2Queries.SetFormat(device, requested, Options.Width, Options.Height);
        if (chosen.FourCc != requested)
        {
            var offered = string.Join(", ", V4L2Queries.EnumerateFormats(device).Select(f => f.Name.Trim()));
            Log.FormatRefused(_logger, path, V4L2Formats.FourCcToString(requested), V4L2Formats.FourCcToString(chosen.FourCc), offered);
            throw new V4L2Exception($"{path} ({caps.Card}) refused format {V4L2Formats.FourCcToString(requested)} (it chose {V4L2Formats.FourCcToString(chosen.FourCc)}); it offers: {offered}.");
        }

        var fps = V4L2Queries.SetFrameRate(device, Options.Fps);
        Negotiated = chosen;
        feed.Info = new VideoInfo(V4L2Formats.ToMediaFormat(chosen.FourCc), chosen.Width, chosen.Height, fps > 0 ? fps : Options.Fps);
        if (chosen.Width != Options.Width || chosen.Height != Options.Height || (fps > 0 && Math.Abs(fps - Options.Fps) > 0.01))
        {
            Log.SettingsAdjusted(_logger, path, Options.Width, Options.Height, Options.Fps, chosen.Width, chosen.Height, fps);
        }

        var buffers = V4L2BufferSet.Create(device, Options.Buffers);
        Log.Negotiated(_logger, path, caps.Card, V4L2Formats.FourCcToString(chosen.FourCc), chosen.Width, chosen.Height, fps, buffers.Count);
        return buffers;
    }

    private void Stream(Feed feed, IV4L2Device device, V4L2BufferSet buffers, CancellationToken cancellationToken)
    {
        for (var i = 0; i < buffers.Count; i++)
        {
            buffers.Queue(buffers[i]);
        }

        var type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        V4L2Queries.Check(device.Ioctl(VIDIOC_STREAMON, ref type), device, "VIDIOC_STREAMON");
        var timeout = TimeSpan.FromSeconds(Options.TimeoutSeconds);
        var lastFrame = _time.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            buffers.QueueReleased();
            var ready = device.Poll(PollSliceMilliseconds, out var revents);
            if (ready < 0)
            {
                if (-ready == Errors.EINTR)
                {
                    continue; // a signal: poll again
                }

                throw new V4L2Exception($"{device.Path}: poll failed", -ready);
            }

            if (ready == 0)
            {
                if (_time.GetElapsedTime(lastFrame) > timeout)
                {
                    Interlocked.Increment(ref _timeouts);
                    Log.NoFrames(_logger, device.Path, timeout.TotalSeconds);
                    throw new V4L2Exception($"{device.Path}: no frame for {timeout.TotalSeconds:0.#} s (poll timed out); reopening the device", Errors.ETIMEDOUT);
                }

                continue;
            }

            var buffer = new v4l2_buffer { type = V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = V4L2_MEMORY_MMAP };
            var errno = device.Ioctl(VIDIOC_DQBUF, ref buffer);
            if (errno is Errors.EAGAIN or Errors.EINTR)
            {
                if ((revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && errno == Errors.EAGAIN)
                {
                    throw new V4L2Exception($"{device.Path}: poll reported an error (revents 0x{revents:x}) and no buffer is ready", Errors.EIO);
                }

                continue; // woken without a frame: poll again
            }

            V4L2Queries.Check(errno, device, "VIDIOC_DQBUF");
            buffers.Dequeued();
            lastFrame = _time.GetTimestamp();
            Publish(feed, buffers, buffer);
        }
    }

    private void Publish(Feed feed, V4L2BufferSet buffers, in v4l2_buffer dequeued)
    {
        if (dequeued.index >= (uint)buffers.Count)
        {
            throw new V4L2Exception($"VIDIOC_DQBUF returned buffer {dequeued.index} of {buffers.Count}", Errors.EINVAL);
        }

        var mapped = buffers[(int)dequeued.index];
        var length = (int)Math.Min(dequeued.bytesused, mapped.Length);
        var info = feed.Info;
        if ((dequeued.flags & V4L2_BUF_FLAG_ERROR) != 0 || length == 0)
        {
            Interlocked.Increment(ref _droppedFrames);
            buffers.Queue(mapped);
            return;
        }

        var (wallMicros, monotonic) = CaptureTime(dequeued);
        var data = NativeSpan(mapped, length);
        Frame frame;
        if (info.Format == MediaFormat.Jpeg)
        {
            // The COM probe goes between SOI and the rest, so MJPEG is copied once; the buffer goes straight back.
            var copied = JpegProbe.CopyToFrame(feed.Pool, data, _counter + 1, wallMicros, info.Width, info.Height);
            buffers.Queue(mapped);
            if (copied is null)
            {
                Interlocked.Increment(ref _droppedFrames);
                return;
            }

            ++_counter;
            frame = copied;
            Interlocked.Increment(ref _copiedFrames);
        }
        else if (buffers.InDriver < MinQueuedInDriver)
        {
            // Readers hold so many buffers that the driver would starve: copy this one and give it back now.
            frame = feed.Pool.Rent(length);
            data.CopyTo(frame.GetWritableSpan(length));
            buffers.Queue(mapped);
            Interlocked.Increment(ref _copiedFrames);
        }
        else
        {
            frame = mapped.Frame;
            frame.AcquireExternal(length);
            buffers.Lend(mapped);
            Interlocked.Increment(ref _zeroCopyFrames);
        }

        frame.StampCaptured(info.Format, info.Width, info.Height, info.Format != MediaFormat.H264 || (dequeued.flags & V4L2_BUF_FLAG_KEYFRAME) != 0 || AnnexB.ContainsIdr(frame.Span), wallMicros, monotonic);
        feed.Publish(frame);
    }

    private static unsafe Span<byte> NativeSpan(MappedBuffer mapped, int length) => new((void*)mapped.Address, length);

    /// <summary>
    /// The driver's timestamp (CLOCK_MONOTONIC, which is also <see cref="Stopwatch"/>'s clock on Linux) as wall
    /// clock microseconds and a Stopwatch timestamp: now minus the frame's age, so latency includes the driver's.
    /// </summary>
    private (long WallMicros, long Monotonic) CaptureTime(in v4l2_buffer buffer)
    {
        var nowTicks = Stopwatch.GetTimestamp();
        var wallNow = ProbeHeader.NowMicros(_time);
        if ((buffer.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) != V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
        {
            return (wallNow, nowTicks);
        }

        var nowMicros = (long)(nowTicks * (1_000_000.0 / Stopwatch.Frequency));
        var bufferMicros = (buffer.timestamp.tv_sec * 1_000_000) + buffer.timestamp.tv_usec;
        var age = nowMicros - bufferMicros;
        if (bufferMicros <= 0 || age < 0 || age > 10_000_000)
        {
            return (wallNow, nowTicks); // not a plausible monotonic time: trust the clock now
        }

        return (wallNow - age, nowTicks - (long)(age * (Stopwatch.Frequency / 1_000_000.0)));
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.V4L2WaitingForDevice, LogLevel.Warning, "V4L2 {Device}: waiting for the device to appear")]
        public static partial void WaitingForDevice(ILogger logger, string device);

        [LoggerMessage(LogEvents.V4L2DeviceAppeared, LogLevel.Information, "V4L2 {Device}: device appeared")]
        public static partial void DeviceAppeared(ILogger logger, string device);

        [LoggerMessage(LogEvents.V4L2OpenFailed, LogLevel.Error, "V4L2 {Device}: cannot open: {Reason}")]
        public static partial void OpenFailed(ILogger logger, string device, string reason);

        [LoggerMessage(LogEvents.V4L2Negotiated, LogLevel.Information, "V4L2 {Device} ({Card}): capturing {Format} {Width}x{Height} at {Fps} fps (0 = driver default) into {Buffers} mmap buffers")]
        public static partial void Negotiated(ILogger logger, string device, string card, string format, int width, int height, double fps, int buffers);

        [LoggerMessage(LogEvents.V4L2SettingsAdjusted, LogLevel.Warning, "V4L2 {Device}: asked for {Width}x{Height} at {Fps} fps, the driver chose {ChosenWidth}x{ChosenHeight} at {ChosenFps} fps")]
        public static partial void SettingsAdjusted(ILogger logger, string device, int width, int height, double fps, int chosenWidth, int chosenHeight, double chosenFps);

        [LoggerMessage(LogEvents.V4L2FormatRefused, LogLevel.Error, "V4L2 {Device}: the camera refused format {Format} (it chose {Chosen}); it offers: {Offered}")]
        public static partial void FormatRefused(ILogger logger, string device, string format, string chosen, string offered);

        [LoggerMessage(LogEvents.V4L2DeviceGone, LogLevel.Error, "V4L2 {Device}: device went away (unplugged?): {Reason}; viewers stay connected, reconnecting with backoff")]
        public static partial void DeviceGone(ILogger logger, string device, string reason);

        [LoggerMessage(LogEvents.V4L2NoFrames, LogLevel.Error, "V4L2 {Device}: no frame for {Seconds} s (poll timed out); reopening the device")]
        public static partial void NoFrames(ILogger logger, string device, double seconds);

        [LoggerMessage(LogEvents.V4L2ControlSet, LogLevel.Information, "V4L2 {Device}: control {Control} set to {Value} (driver kept {Kept})")]
        public static partial void ControlSet(ILogger logger, string device, string control, long value, long kept);
    }
}
