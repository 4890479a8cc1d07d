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

    /// <summary>Creates the transform of <paramref name="source"/> (YUYV).</summary>
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
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        // The size is the raw feed's; wait for its first frame if the source has not said yet.
        var info = Source.Info;
        var fps = info.Fps > 0 ? info.Fps : 30;
        Output.Info = info with { Format = MediaFormat.H264 };
        string[] arguments =
        [
            "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", $"{info.Width}x{info.Height}",
            "-r", fps.ToString(CultureInfo.InvariantCulture), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-pix_fmt", "yuv420p",
            // Raw frames are BT.601 limited range; say so in the VUI, or browsers decode SD video as BT.709.
            "-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-g", ((int)Math.Round(fps * 2)).ToString(CultureInfo.InvariantCulture),
            // FLV frames each access unit, so it is handed on the moment it is whole (Annex B would wait a frame).
            "-f", "flv", "-flush_packets", "1", "pipe:1",
        ];
        var process = await FfmpegProcess.StartAsync(Output.Name, arguments, _logger, writesInput: true);
        await using (process)
        {
            Log.EncoderStarted(_logger, Output.Name, process.Id);
            var stamps = new ConcurrentQueue<(long CaptureMicros, uint Counter)>();
            using var kill = cancellationToken.UnsafeRegister(static p => ((FfmpegProcess)p!).Kill(), process);
            // The writer waits on the raw feed; when the encoder ends on its own, it must stop waiting too.
            using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var writing = WriteFramesAsync(process.Input, stamps, stopWriting.Token);
            try
            {
                await H264Publisher.ReadFlvAsync(
                    process.Output,
                    Output,
                    () =>
                    {
                        Interlocked.Increment(ref _encoded);
                        return stamps.TryDequeue(out var stamp) ? stamp : (ProbeHeader.NowMicros(), 0);
                    },
                    cancellationToken);
            }
            finally
            {
                await process.DisposeAsync();
                await stopWriting.CancelAsync();
                await writing.WaitAsync(FfmpegProcess.ExitWait, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            // Watched and yet ended: say why, or a viewer sees a feed that is merely silent.
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"the H.264 encoder ended: {process.DescribeEnd(3)}");
        }
    }

    private async Task WriteFramesAsync(Stream stdin, ConcurrentQueue<(long, uint)> stamps, CancellationToken cancellationToken)
    {
        using var reader = Source.OpenReader();
        using var registration = cancellationToken.UnsafeRegister(static r => ((FeedReader)r!).Close(), reader);
        try
        {
            while (await reader.WaitAsync())
            {
                if (!reader.TryTakeLatest(out Frame frame))
                {
                    continue;
                }

                using var lease = new FrameLease(frame);
                var counter = ProbeHeader.TryRead(frame.Span, out var probe) ? probe.Counter : (uint)frame.Sequence;
                stamps.Enqueue((frame.CaptureTimeMicros, counter));
                await stdin.WriteAsync(frame.Memory, cancellationToken);
                await stdin.FlushAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The encoder went away or the last viewer left.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.H264EncoderEncoderStarted, LogLevel.Information, "Feed {Feed}: H.264 encoder started (ffmpeg pid {Pid}) for its first viewer")]
        public static partial void EncoderStarted(ILogger logger, string feed, int pid);
    }
}
