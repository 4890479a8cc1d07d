using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Transforms;

/// <summary>
/// A raw feed seen as H.264: one ffmpeg encoder process per feed (libx264 zerolatency, no B-frames), fed the
/// newest raw frames on its stdin while someone watches, its FLV output read one tag per access unit and each
/// published as Annex B with the probe SEI. Encoded once for all viewers; started by the first viewer, stopped
/// after the last. If the encoder ends while watched, the run fails with ffmpeg's exit and last stderr lines
/// (the output feed's state detail) and starts again with the next viewer.
/// </summary>
/// <remarks>
/// Capture times survive the encoder: with zerolatency and no B-frames, access units come out in the order
/// frames went in, one each, so a queue of the frames written gives each access unit its capture time and
/// probe counter. When the encoder is slower than the source, the newest frame is written and the skipped ones
/// counted (the source reader's drops).
/// </remarks>
public sealed partial class H264EncodeTransform : LazyFeed
{
    private readonly ILogger _logger;
    private long _encoded;
    private long _misshapen;
    private int _processId;

    /// <summary>Creates the transform of <paramref name="source"/> (YUYV or NV12; a JPEG feed's decoded view too).</summary>
    public H264EncodeTransform(Feed source, ILogger logger)
        : base(source, new Feed(source?.Name ?? "") { SourceUri = source?.SourceUri, KeepGroupOfPictures = true }, logger)
    {
        _logger = logger;
    }

    /// <summary>Access units the encoder produced.</summary>
    public long EncodedFrames => Interlocked.Read(ref _encoded);

    /// <inheritdoc />
    public override string PartName => "h264Encoder";

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["encodedFrames"] = EncodedFrames;
        counters["otherSizeFrames"] = Interlocked.Read(ref _misshapen);
        counters["processId"] = ProcessId;
    }

    /// <summary>The running encoder's process id, or 0.</summary>
    public int ProcessId => Volatile.Read(ref _processId);

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        // The reader first: the source may itself be a view (a JPEG feed's decoder) that starts with it, and the
        // encoder's size and pixel format are those of the first frame, not what the source said before it ran.
        using var reader = Source.OpenReader();
        using var registration = cancellationToken.UnsafeRegister(static r => ((FeedReader)r!).Close(), reader);
        Frame? first = null;
        while (first is null && await reader.WaitAsync())
        {
            if (reader.TryTakeLatest(out var taken))
            {
                if (taken.Format is MediaFormat.Yuyv or MediaFormat.Nv12 && taken.Width > 0 && taken.Height > 0)
                {
                    first = taken;
                }
                else
                {
                    taken.Release();
                }
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (first is null)
        {
            throw new InvalidOperationException("the raw feed ended before its first frame");
        }

        var firstLease = new FrameLease(first);
        var (width, height, pixelFormat) = (first.Width, first.Height, first.Format);
        var info = Source.Info;
        var fps = info.Fps > 0 ? info.Fps : 30;
        Output.Info = new VideoInfo(MediaFormat.H264, width, height, fps);
        string[] arguments =
        [
            "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", pixelFormat == MediaFormat.Nv12 ? "nv12" : "yuyv422", "-s", $"{width}x{height}",
            "-r", fps.ToString(CultureInfo.InvariantCulture), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-pix_fmt", "yuv420p",
            // Raw frames are BT.601 limited range; say so in the VUI, or browsers decode SD video as BT.709.
            "-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-g", ((int)Math.Round(fps * 2)).ToString(CultureInfo.InvariantCulture),
            // FLV frames each access unit, so it is handed on the moment it is whole (Annex B would wait a frame).
            "-f", "flv", "-flush_packets", "1", "pipe:1",
        ];
        var stamps = new ConcurrentQueue<(long CaptureMicros, uint Counter)>();
        var firstHandedOn = false;
        try
        {
            await FfmpegProcess.RunFilterAsync(
                Output.Name,
                "H.264 encoder",
                arguments,
                _logger,
                (stdin, stopWriting) =>
                {
                    firstHandedOn = true;
                    return WriteFramesAsync(reader, firstLease, (width, height, pixelFormat), stdin, stamps, stopWriting);
                },
                (stdout, stopping) => H264Publisher.ReadFlvAsync(
                    stdout,
                    Output,
                    () =>
                    {
                        Interlocked.Increment(ref _encoded);
                        return stamps.TryDequeue(out var stamp) ? stamp : (ProbeHeader.NowMicros(), 0);
                    },
                    stopping),
                pid =>
                {
                    Volatile.Write(ref _processId, pid);
                    if (pid != 0)
                    {
                        Log.EncoderStarted(_logger, Output.Name, pid);
                    }
                    else
                    {
                        reader.Close(); // the writer waits on the raw feed: the encoder is gone, so stop waiting
                    }
                },
                cancellationToken);
        }
        finally
        {
            if (!firstHandedOn)
            {
                firstLease.Dispose(); // the encoder did not start: nobody else will give the first frame back
            }
        }
    }

    private async Task WriteFramesAsync(FeedReader reader, FrameLease first, (int Width, int Height, MediaFormat Format) shape, Stream stdin, ConcurrentQueue<(long, uint)> stamps, CancellationToken cancellationToken)
    {
        try
        {
            using (first)
            {
                await WriteAsync(first.Frame);
            }

            while (await reader.WaitAsync())
            {
                if (!reader.TryTakeLatest(out Frame frame))
                {
                    continue;
                }

                using var lease = new FrameLease(frame);
                if ((frame.Width, frame.Height, frame.Format) != shape)
                {
                    // The encoder was started for another picture size: the frame would be read as garbage.
                    Interlocked.Increment(ref _misshapen);
                    continue;
                }

                await WriteAsync(frame);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The encoder went away or the last viewer left.
        }

        async Task WriteAsync(Frame frame)
        {
            var counter = ProbeHeader.TryRead(frame.Span, out var probe) ? probe.Counter : (uint)frame.Sequence;
            stamps.Enqueue((frame.CaptureTimeMicros, counter));
            await stdin.WriteAsync(frame.Memory, cancellationToken);
            await stdin.FlushAsync(cancellationToken);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.H264EncoderEncoderStarted, LogLevel.Information, "Feed {Feed}: H.264 encoder started (ffmpeg pid {Pid}) for its first viewer")]
        public static partial void EncoderStarted(ILogger logger, string feed, int pid);
    }
}
