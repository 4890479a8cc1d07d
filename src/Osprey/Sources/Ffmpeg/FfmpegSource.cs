using System.Globalization;
using Microsoft.Extensions.Logging;
using Osprey.Codecs.Jpeg;
using Osprey.Containers.Jpeg;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Sources.Ffmpeg;

/// <summary>
/// Runs ffmpeg as a child process and publishes what it writes to stdout: JPEG images split by
/// <see cref="JpegStreamSplitter"/> (passed to JPEG viewers with no re-encode, the probe header inserted once
/// per frame), or raw YUYV frames read straight into pooled frames.
/// </summary>
/// <remarks>
/// <para>Ownership: a run owns its process. Cancelling the run kills ffmpeg and any children it started; when
/// ffmpeg exits or dies, the run fails with its exit code and last error line, and the supervisor restarts it
/// with backoff while viewers stay connected. If Osprey itself is killed, the kernel kills ffmpeg too (see
/// <see cref="FfmpegProcess"/>), also one still waiting for its input and so never writing to the closed pipe.</para>
/// </remarks>
public sealed partial class FfmpegSource : IFrameSource, ICounted
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private uint _counter;
    private long _badImages;

    /// <summary>Creates the source.</summary>
    public FfmpegSource(FfmpegOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The source's options.</summary>
    public FfmpegOptions Options { get; }

    /// <summary>The running ffmpeg's process id, or 0.</summary>
    public int ProcessId { get; private set; }

    /// <summary>JPEGs from ffmpeg dropped as truncated, oversized or garbage, over all runs.</summary>
    public long BadImages => Interlocked.Read(ref _badImages);

    /// <inheritdoc />
    public PartCounters ReadCounters() => new(
        "ffmpeg",
        ProcessId != 0 ? "running" : "stopped",
        null,
        new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["processId"] = ProcessId,
            ["badImages"] = BadImages,
        });

    /// <inheritdoc />
    public string Uri => Options.ToUri();

    /// <inheritdoc />
    public TimeSpan? FrameTimeout => Options.FrameTimeout;

    /// <inheritdoc />
    public VideoInfo ExpectedInfo => new(
        Options.Output switch { FfmpegOutput.Mjpeg => MediaFormat.Jpeg, FfmpegOutput.H264 => MediaFormat.H264, _ => MediaFormat.Yuyv },
        Options.Width,
        Options.Height,
        Options.Fps);

    /// <inheritdoc />
    public async Task RunAsync(Feed feed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var arguments = Options.BuildArguments();
        // ffmpeg's stderr is its error report (it runs with -loglevel error), so an operator sees it at Warning.
        var process = await FfmpegProcess.StartAsync(feed.Name, arguments, _logger, executable: Options.Executable, stderrLevel: LogLevel.Warning);
        await using (process)
        {
            ProcessId = process.Id;
            Log.Started(_logger, feed.Name, process.Id, string.Join(' ', arguments));
            using var kill = cancellationToken.UnsafeRegister(static state => ((FfmpegProcess)state!).Kill(), process);
            try
            {
                var stdout = process.Output;
                if (Options.Output == FfmpegOutput.Mjpeg)
                {
                    await ReadJpegsAsync(stdout, feed, cancellationToken);
                }
                else if (Options.Output == FfmpegOutput.H264)
                {
                    var stamp = () => (ProbeHeader.NowMicros(_time), ++_counter);
                    await (Options.UsesFlv
                        ? H264Publisher.ReadFlvAsync(stdout, feed, stamp, cancellationToken)
                        : H264Publisher.ReadAccessUnitsAsync(stdout, feed, stamp, cancellationToken));
                }
                else
                {
                    await ReadRawFramesAsync(stdout, feed, cancellationToken);
                }
            }
            finally
            {
                // Killed and reaped within FfmpegProcess.ExitWait, so the exit code below is known.
                await process.DisposeAsync();
                ProcessId = 0;
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"ffmpeg exited with code {process.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}{(process.Errors.Last(1) is { Length: > 0 } text ? ": " + text : "")}");
        }
    }

    private async Task ReadJpegsAsync(Stream stdout, Feed feed, CancellationToken cancellationToken)
    {
        var splitter = new JpegStreamSplitter(Options.MaxImageSize);
        var buffer = new byte[64 * 1024];
        var state = (Source: this, Feed: feed);
        try
        {
            while (true)
            {
                var read = await stdout.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                splitter.Push(buffer.AsSpan(0, read), state, static (s, jpeg) => s.Source.PublishJpeg(s.Feed, jpeg));
            }
        }
        finally
        {
            Interlocked.Add(ref _badImages, splitter.TruncatedImages + splitter.OversizedImages);
        }
    }

    private void PublishJpeg(Feed feed, ReadOnlySpan<byte> jpeg)
    {
        var now = ProbeHeader.NowMicros(_time);
        JpegMarkers.TryReadSize(jpeg, out var width, out var height);
        if (JpegProbe.CopyToFrame(feed.Pool, jpeg, ++_counter, now, width, height) is not { } frame)
        {
            Interlocked.Increment(ref _badImages); // the splitter gives whole images, so this is a corrupt one
            return;
        }

        frame.StampCaptured(MediaFormat.Jpeg, width, height, true, now);
        if (feed.Info.Width != width || feed.Info.Height != height)
        {
            feed.Info = feed.Info with { Format = MediaFormat.Jpeg, Width = width, Height = height };
        }

        feed.Publish(frame);
    }

    private async Task ReadRawFramesAsync(Stream stdout, Feed feed, CancellationToken cancellationToken)
    {
        var size = Options.RawFrameSize;
        while (true)
        {
            var frame = feed.Pool.Rent(size);
            int read;
            try
            {
                // Straight into the pooled frame: one copy, out of the pipe.
                read = await stdout.ReadAtLeastAsync(frame.GetWritableMemory(size), size, throwOnEndOfStream: false, cancellationToken);
            }
            catch
            {
                frame.Release();
                throw;
            }

            if (read < size)
            {
                frame.Release(); // ffmpeg ended mid-frame: never publish a partial picture
                return;
            }

            frame.StampCaptured(MediaFormat.Yuyv, Options.Width, Options.Height, true, ProbeHeader.NowMicros(_time));
            feed.Publish(frame);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.FfmpegStarted, LogLevel.Information, "Feed {Feed}: ffmpeg started (pid {Pid}): ffmpeg {Arguments}")]
        public static partial void Started(ILogger logger, string feed, int pid, string arguments);
    }
}
