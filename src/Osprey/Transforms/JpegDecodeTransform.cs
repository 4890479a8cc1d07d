using Microsoft.Extensions.Logging;
using Osprey.Codecs.Jpeg;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// A JPEG feed (an MJPEG camera, an ffmpeg MJPEG source) seen as raw YUYV, for raw viewers such as the
/// article's eyetoy page: each JPEG decoded once for all of them, only while there is one. When the JPEG
/// carries a probe header, the raw frame carries it too (first 32 bytes and the counter in the last 4), as the
/// test pattern's frames do; otherwise the pixels are left as decoded.
/// </summary>
public sealed class JpegDecodeTransform : LazyTransform<JpegDecoder>
{
    /// <inheritdoc />
    public override string PartName => "jpegDecoder";

    /// <summary>Creates the transform of <paramref name="source"/>.</summary>
    public JpegDecodeTransform(Feed source, ILogger logger)
        : base(source, source?.Name ?? "", TransformWorkers.For(source?.Info.Width ?? 0, source?.Info.Height ?? 0), logger)
    {
    }

    /// <inheritdoc />
    protected override JpegDecoder CreateWorker() => new();

    /// <inheritdoc />
    protected override VideoInfo DescribeOutput(VideoInfo source) => source with { Format = MediaFormat.Yuyv };

    /// <inheritdoc />
    protected override Frame? Transform(JpegDecoder worker, Frame input, Feed output, out string? error)
    {
        if (input.Format != MediaFormat.Jpeg || !worker.TryGetYuyvSize(input.Span, out var width, out var height, out var size))
        {
            error = "not a decodable JPEG";
            return null;
        }

        var frame = output.Pool.Rent(size);
        try
        {
            if (!worker.TryDecodeToYuyv(input.Span, frame.GetWritableSpan(size), out width, out height, out error))
            {
                frame.Release();
                return null;
            }

            if (JpegProbe.TryRead(input.Span, out var probe) && size >= ProbeHeader.Size + 4)
            {
                (probe with { Width = (ushort)width, Height = (ushort)height, PayloadSize = (uint)size }).WriteTo(frame.GetWritableSpan(size));
            }

            frame.StampFrom(input, MediaFormat.Yuyv, width, height, true);
            Output.Info = Output.Info with { Width = width, Height = height };
            return frame;
        }
        catch
        {
            frame.Release();
            throw;
        }
    }
}
