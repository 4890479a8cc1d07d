using Microsoft.Extensions.Logging;
using Osprey.Codecs.Jpeg;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// A raw feed (YUYV, NV12) seen as JPEG: each frame encoded once through libjpeg-turbo for every JPEG viewer,
/// only while there is one. Every JPEG carries the probe header in a COM segment after SOI: the source's own
/// probe counter when its frames have one (the test pattern), else the feed's sequence number.
/// </summary>
public sealed class JpegEncodeTransform : LazyTransform<JpegEncoder>
{
    private readonly int _quality;

    /// <summary>Creates the transform of <paramref name="source"/> at JPEG quality <paramref name="quality"/>.</summary>
    public JpegEncodeTransform(Feed source, int quality, ILogger logger)
        : base(source, source?.Name ?? "", TransformWorkers.For(source?.Info.Width ?? 0, source?.Info.Height ?? 0), logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        _quality = quality;
    }

    /// <summary>The JPEG quality, 1-100.</summary>
    public int Quality => _quality;

    /// <inheritdoc />
    public override string PartName => "jpegEncoder";

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        base.AddCounters(counters);
        counters["quality"] = Quality;
    }

    /// <inheritdoc />
    protected override JpegEncoder CreateWorker() => new(_quality);

    /// <inheritdoc />
    protected override VideoInfo DescribeOutput(VideoInfo source) => source with { Format = MediaFormat.Jpeg };

    /// <inheritdoc />
    protected override Frame? Transform(JpegEncoder worker, Frame input, Feed output, out string? error)
    {
        if (input.Format is not (MediaFormat.Yuyv or MediaFormat.Nv12))
        {
            error = $"cannot encode {input.Format} frames to JPEG";
            return null;
        }

        var counter = ProbeHeader.TryRead(input.Span, out var sourceProbe) ? sourceProbe.Counter : (uint)input.Sequence;
        var probe = new ProbeHeader(counter, input.CaptureTimeMicros, (ushort)input.Width, (ushort)input.Height, 0);
        var frame = output.Pool.Rent(JpegEncoder.MaxEncodedSize(input.Width, input.Height));
        try
        {
            var destination = frame.GetWritableSpan(frame.Capacity);
            var written = input.Format == MediaFormat.Yuyv
                ? worker.EncodeYuyv(input.Span, input.Width, input.Height, probe, destination)
                : worker.EncodeNv12(input.Span, input.Width, input.Height, probe, destination);
            // The size is known only now: write the probe again with it (38 bytes, in place).
            JpegProbe.WritePrefix(destination, probe with { PayloadSize = (uint)written });
            frame.SetLength(written);
            frame.StampFrom(input, MediaFormat.Jpeg, input.Width, input.Height, true);
            error = null;
            return frame;
        }
        catch
        {
            frame.Release();
            throw;
        }
    }
}
