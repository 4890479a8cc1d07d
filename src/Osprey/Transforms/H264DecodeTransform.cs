using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Osprey.Codecs.H264;
using Osprey.Codecs.Jpeg;
using Osprey.Containers.Jpeg;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Runtime;

namespace Osprey.Transforms;

/// <summary>
/// An H.264 feed (an IP camera, an ffmpeg H.264 source, a raw feed's encoder) seen as JPEG, for snapshots, MJPEG
/// and JPEG WebSocket viewers: one ffmpeg decoder per feed, fed the access units in order on stdin (Annex B) and
/// writing MJPEG on stdout, each image published once for all JPEG viewers. Started by the first viewer (a
/// snapshot is one for a moment), stopped after the last; if ffmpeg ends while watched, the output's state says
/// why and the next viewer starts it again.
/// </summary>
/// <remarks>
/// <para>The decoder starts at the source's cached group of pictures, so the first picture is decodable at once; the
/// pictures of that group that are older than the newest access unit at start are decoded (they must be) but not
/// published, so a snapshot shows the current picture, not the group's first.</para>
/// <para>Capture times survive the decoder as they survive the encoder: with <c>low_delay</c>, one thread and no
/// frame-rate conversion, ffmpeg writes one JPEG per access unit in input order, so a queue of what was written gives
/// each JPEG its capture time and probe counter.</para>
/// </remarks>
public sealed partial class H264DecodeTransform : LazyFeed
{
    /// <summary>Access units queued for the decoder at most: a ffmpeg that is that far behind has lost its way.</summary>
    private const int MaxPending = 300;

    private readonly ILogger _logger;
    private readonly int _quality;
    private readonly int _maxImageSize;
    private long _written;
    private long _decoded;
    private long _catchUp;
    private long _badImages;
    private int _processId;

    /// <summary>Creates the transform of <paramref name="source"/> (H.264) at JPEG quality <paramref name="quality"/> (1-100).</summary>
    public H264DecodeTransform(Feed source, int quality, ILogger logger, int maxImageSize = 16 * 1024 * 1024)
        : base(source, new Feed(source?.Name ?? "") { SourceUri = source?.SourceUri }, logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        _logger = logger;
        _quality = quality;
        _maxImageSize = maxImageSize;
    }

    /// <inheritdoc />
    public override string PartName => "h264Decoder";

    /// <summary>Access units written to the decoder.</summary>
    public long WrittenAccessUnits => Interlocked.Read(ref _written);

    /// <summary>JPEGs published (once each, whatever the number of viewers).</summary>
    public long DecodedFrames => Interlocked.Read(ref _decoded);

    /// <summary>The running decoder's process id, or 0.</summary>
    public int ProcessId => Volatile.Read(ref _processId);

    /// <summary>ffmpeg's quantiser for a JPEG quality: 2 (best) to 31, as its mjpeg encoder takes it.</summary>
    public static int QualityToQscale(int quality) => Math.Clamp((int)Math.Round(2 + ((100 - quality) * 29 / 99.0)), 2, 31);

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["writtenAccessUnits"] = WrittenAccessUnits;
        counters["decodedFrames"] = DecodedFrames;
        counters["catchUpFrames"] = Interlocked.Read(ref _catchUp);
        counters["badImages"] = Interlocked.Read(ref _badImages);
        counters["processId"] = ProcessId;
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        Output.Info = Source.Info with { Format = MediaFormat.Jpeg };
        // The reader first: it starts with the source's cached group, and its newest frame now is "the present".
        using var reader = Source.OpenOrderedReader(capacity: 120);
        using var closeReader = cancellationToken.UnsafeRegister(static r => ((OrderedFeedReader)r!).Close(), reader);
        var present = Source.LatestSequence;
        string[] arguments =
        [
            "-hide_banner", "-nostdin", "-loglevel", "error",
            // Decode what comes as it comes: no probing ahead, no reordering delay, one thread (frame threads delay).
            "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer", "-flags", "low_delay", "-threads", "1",
            "-f", "h264", "-i", "pipe:0",
            "-an", "-fps_mode", "passthrough",
            // JPEG is full range with BT.601's matrix whatever the camera's; ffmpeg reads the stream's own from its VUI.
            "-vf", "scale=out_range=full:out_color_matrix=bt601,format=yuvj420p",
            "-c:v", "mjpeg", "-q:v", QualityToQscale(_quality).ToString(CultureInfo.InvariantCulture),
            "-f", "mjpeg", "-flush_packets", "1", "pipe:1",
        ];
        var stamps = new ConcurrentQueue<Stamp>();
        await FfmpegProcess.RunFilterAsync(
            Output.Name,
            "H.264 decoder",
            arguments,
            _logger,
            (stdin, stopWriting) => WriteAccessUnitsAsync(reader, stdin, stamps, stopWriting),
            (stdout, stopping) => ReadJpegsAsync(stdout, stamps, present, stopping),
            pid =>
            {
                Volatile.Write(ref _processId, pid);
                if (pid != 0)
                {
                    Log.DecoderStarted(_logger, Output.Name, pid);
                }
                else
                {
                    reader.Close(); // the writer waits on the H.264 feed: the decoder is gone, so stop waiting
                }
            },
            cancellationToken);
    }

    private async Task WriteAccessUnitsAsync(OrderedFeedReader reader, Stream stdin, ConcurrentQueue<Stamp> stamps, CancellationToken cancellationToken)
    {
        var started = false;
        try
        {
            while (await reader.WaitAsync())
            {
                while (reader.TryDequeue(out var frame))
                {
                    using var lease = new FrameLease(frame);
                    // Nothing before the first key frame decodes; skipping it keeps one JPEG per access unit written.
                    started |= frame.IsKeyFrame;
                    if (!started || frame.Format != MediaFormat.H264)
                    {
                        continue;
                    }

                    var counter = H264Probe.TryRead(frame.Span, out var probe) ? probe.Counter : (uint)frame.Sequence;
                    stamps.Enqueue(new Stamp(frame.Sequence, frame.CaptureTimeMicros, frame.CaptureTimestamp, counter));
                    while (stamps.Count > MaxPending && stamps.TryDequeue(out _))
                    {
                    }

                    await stdin.WriteAsync(frame.Memory, cancellationToken);
                    await stdin.FlushAsync(cancellationToken);
                    Interlocked.Increment(ref _written);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The decoder went away or the last viewer left.
        }
        finally
        {
            // End of input: ffmpeg flushes what it holds and exits, which ends the read side.
            await stdin.DisposeAsync().AsTask().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReadJpegsAsync(Stream stdout, ConcurrentQueue<Stamp> stamps, long present, CancellationToken cancellationToken)
    {
        var splitter = new JpegStreamSplitter(_maxImageSize);
        var buffer = new byte[64 * 1024];
        var state = (Transform: this, Stamps: stamps, Present: present);
        try
        {
            while (true)
            {
                var read = await stdout.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                splitter.Push(buffer.AsSpan(0, read), state, static (s, jpeg) => s.Transform.PublishJpeg(jpeg, s.Stamps, s.Present));
            }
        }
        finally
        {
            Interlocked.Add(ref _badImages, splitter.TruncatedImages + splitter.OversizedImages);
        }
    }

    private void PublishJpeg(ReadOnlySpan<byte> jpeg, ConcurrentQueue<Stamp> stamps, long present)
    {
        var stamp = stamps.TryDequeue(out var s) ? s : new Stamp(long.MaxValue, ProbeHeader.NowMicros(), 0, 0);
        if (stamp.Sequence < present)
        {
            Interlocked.Increment(ref _catchUp); // decoded to reach the present; older than what a viewer asked for
            return;
        }

        JpegMarkers.TryReadSize(jpeg, out var width, out var height);
        if (JpegProbe.CopyToFrame(Output.Pool, jpeg, stamp.Counter, stamp.CaptureMicros, width, height) is not { } frame)
        {
            Interlocked.Increment(ref _badImages);
            return;
        }

        frame.StampCaptured(MediaFormat.Jpeg, width, height, true, stamp.CaptureMicros, stamp.CaptureTimestamp);
        if (Output.Info.Width != width || Output.Info.Height != height)
        {
            Output.Info = Output.Info with { Format = MediaFormat.Jpeg, Width = width, Height = height };
        }

        // Under the lifecycle lock: a JPEG finished after the last viewer left must not stay latched for the next.
        UnderLifecycleLock((Transform: this, Frame: frame), static t =>
        {
            if (t.Transform.IsRunningLocked)
            {
                t.Transform.Output.Publish(t.Frame);
                Interlocked.Increment(ref t.Transform._decoded);
            }
            else
            {
                t.Frame.Release();
            }
        });
    }

    private readonly record struct Stamp(long Sequence, long CaptureMicros, long CaptureTimestamp, uint Counter);

    private static partial class Log
    {
        [LoggerMessage(LogEvents.H264DecoderStarted, LogLevel.Information, "Feed {Feed}: H.264 decoder started (ffmpeg pid {Pid}) for its first JPEG viewer")]
        public static partial void DecoderStarted(ILogger logger, string feed, int pid);
    }
}
