using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Osprey.Codecs.Jpeg;
using Osprey.Containers.Jpeg;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;

namespace Osprey.Sources.Ffmpeg;

/// <summary>
/// Runs ffmpeg as a child process and publishes what it writes to stdout: JPEG images split by
/// <see cref="JpegStreamSplitter"/> (passed to JPEG viewers with no re-encode, the probe header inserted once
/// per frame), or raw YUYV frames read straight into pooled frames.
/// </summary>
/// <remarks>
/// <para>Ownership: a run owns its process. Cancelling the run kills ffmpeg and any children it started; when
/// ffmpeg exits or dies, the run fails with its exit code and last error line, and the supervisor restarts it
/// with backoff while viewers stay connected. If Osprey itself is killed, ffmpeg's next write to the closed
/// pipe fails and it exits, so no ffmpeg outlives Osprey for longer than a frame.</para>
/// </remarks>
public sealed partial class FfmpegSource : IFrameSource
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
    public string Uri => Options.ToUri();

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
        var start = new ProcessStartInfo(Options.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in Options.BuildArguments())
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"cannot run '{Options.Executable}' ({ex.Message}): install the Debian package ffmpeg", ex);
        }

        using (process)
        {
            ProcessId = process.Id;
            Log.Started(_logger, feed.Name, process.Id, string.Join(' ', start.ArgumentList));
            var lastError = new LastLines();
            var stderr = PumpErrorsAsync(process, lastError, feed.Name);
            using var kill = cancellationToken.UnsafeRegister(static state => KillTree((Process)state!), process);
            try
            {
                var stdout = process.StandardOutput.BaseStream;
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
                KillTree(process);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
                await stderr;
                ProcessId = 0;
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException(
                $"ffmpeg exited with code {process.ExitCode}{(lastError.Text is { Length: > 0 } text ? ": " + text : "")}");
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

    private async Task PumpErrorsAsync(Process process, LastLines lastError, string feedName)
    {
        try
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                if (line.Length > 0)
                {
                    lastError.Add(line);
                    Log.FfmpegSaid(_logger, feedName, line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process is gone.
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Already gone.
        }
    }

    /// <summary>The last error line ffmpeg printed, for the feed's state and the exception.</summary>
    private sealed class LastLines
    {
        private readonly Lock _lock = new();
        private string _text = "";

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return _text;
                }
            }
        }

        public void Add(string line)
        {
            lock (_lock)
            {
                _text = line.Length > 300 ? line[..300] : line;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Information, "Feed {Feed}: ffmpeg started (pid {Pid}): ffmpeg {Arguments}")]
        public static partial void Started(ILogger logger, string feed, int pid, string arguments);

        [LoggerMessage(301, LogLevel.Warning, "Feed {Feed}: ffmpeg: {Line}")]
        public static partial void FfmpegSaid(ILogger logger, string feed, string line);
    }
}
