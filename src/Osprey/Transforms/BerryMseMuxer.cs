using Microsoft.Extensions.Logging;
using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// An H.264 feed in BerryMSE's exact fragment layout, for its unmodified page on <c>/video_websocket</c>: one
/// media segment per access unit (a single length-prefixed slice NAL for single-slice cameras, exactly as
/// BerryMSE sends; all the slices of a picture in its one sample otherwise), muxed once for all viewers. The init segment is the output's header. BerryMSE numbers fragments per client (sequence n and
/// tfdt 330 x n), so each viewer rewrites those two fields in its own copy of the 104-byte moof
/// (<see cref="PatchForViewer"/>); the mdat is sent from the shared frame.
/// </summary>
public sealed class BerryMseMuxer : LazyFeed
{
    /// <inheritdoc />
    public override string PartName => "berryMseMuxer";

    /// <summary>BerryMSE's fixed sample duration in its 10 kHz media timescale (about 30.3 fps).</summary>
    public const uint SampleDuration = 330;

    private readonly ParameterSets _parameterSets = new();

    /// <summary>Creates the muxer of <paramref name="source"/> (an H.264 feed).</summary>
    public BerryMseMuxer(Feed source, ILogger logger)
        : base(source, new Feed(source?.Name ?? "") { SourceUri = source?.SourceUri, KeepGroupOfPictures = true }, logger)
    {
    }

    /// <summary>
    /// Writes the per-viewer fields of a shared fragment's moof into <paramref name="moof"/> (a copy of its first
    /// <see cref="BerryMseWriter.MoofSize"/> bytes): mfhd sequence number at bytes 20-23 and tfdt's 64-bit base
    /// decode time at 64-71 (after tfdt's size, type, version and flags at 52-63), big-endian.
    /// </summary>
    public static void PatchForViewer(Span<byte> moof, uint viewerSequence)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(moof[20..], viewerSequence);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(moof[64..], SampleDuration * (ulong)viewerSequence);
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        using var reader = Source.OpenOrderedReader(capacity: 120);
        using var registration = cancellationToken.UnsafeRegister(static r => ((OrderedFeedReader)r!).Close(), reader);
        var version = 0;
        while (await reader.WaitAsync())
        {
            while (reader.TryDequeue(out var input))
            {
                using var lease = new FrameLease(input);
                if ((_parameterSets.UpdateFromAccessUnit(input.Span) || Output.Header is null) && _parameterSets.IsComplete)
                {
                    version++;
                    var info = _parameterSets.Info!.Value;
                    var sps = _parameterSets.Sps.Span;
                    var pps = _parameterSets.Pps.Span;
                    var init = new byte[BerryMseWriter.GetInitSegmentSize(sps, pps)];
                    var length = BerryMseWriter.WriteInitSegment(init, sps, pps, info.Width, info.Height);
                    Output.Info = new VideoInfo(MediaFormat.BerryMse, info.Width, info.Height, info.FrameRate ?? Source.Info.Fps);
                    Output.Header = new StreamHeader(version, "video/mp4", init.AsMemory(0, length));
                }

                if (!_parameterSets.IsComplete)
                {
                    continue;
                }

                // One segment per access unit: all its slices in one sample (see BerryMseWriter.WriteAccessUnitSegment).
                var size = BerryMseWriter.GetAccessUnitSegmentSize(input.Span);
                if (size <= BerryMseWriter.DataOffset)
                {
                    continue; // no slice in this access unit
                }

                var fragment = Output.Pool.Rent(size);
                var written = BerryMseWriter.WriteAccessUnitSegment(fragment.GetWritableSpan(size), input.Span, 0, 0, SampleDuration, input.IsKeyFrame);
                fragment.SetLength(written);
                fragment.StampFrom(input, MediaFormat.BerryMse, input.Width, input.Height, input.IsKeyFrame);
                fragment.HeaderVersion = version;
                Output.Publish(fragment);
            }
        }
    }

    /// <inheritdoc />
    protected override void OnStopping() => Output.Header = null;
}
