using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Transforms;

/// <summary>
/// An H.264 feed seen as fragmented MP4 for Media Source Extensions: each access unit muxed once, for all
/// viewers, into one media segment (moof + mdat) with the feed's own sequence number and a decode time from
/// the capture clock (90 kHz). The init segment and MIME type are the output's <see cref="Feed.Header"/>, a new
/// version whenever SPS or PPS change; each fragment records the version it belongs to.
/// </summary>
/// <remarks>Reads the source in the ordered mode (every access unit, in order), so the output never has a hole
/// in the middle of a group of pictures; the output keeps its current group so a new viewer starts at once.</remarks>
public sealed class Fmp4Muxer : LazyFeed
{
    private readonly ParameterSets _parameterSets = new();
    private long _fragments;

    /// <summary>Creates the muxer of <paramref name="source"/> (an H.264 feed).</summary>
    public Fmp4Muxer(Feed source, ILogger logger)
        : base(source, new Feed(source?.Name ?? "") { SourceUri = source?.SourceUri, KeepGroupOfPictures = true }, logger)
    {
    }

    /// <summary>Media segments written (once each, whatever the number of viewers).</summary>
    public long Fragments => Interlocked.Read(ref _fragments);

    /// <inheritdoc />
    public override string PartName => "fmp4Muxer";

    /// <inheritdoc />
    protected override void AddCounters(Dictionary<string, long> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["fragments"] = Fragments;
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        using var reader = Source.OpenOrderedReader(capacity: 120);
        using var registration = cancellationToken.UnsafeRegister(static r => ((OrderedFeedReader)r!).Close(), reader);
        uint sequence = 0;
        long firstTimestamp = 0;
        ulong previousDecodeTime = 0;
        var version = Output.Header?.Version ?? 0;
        var defaultDuration = (uint)(Fmp4Writer.Timescale / (Source.Info.Fps > 0 ? Source.Info.Fps : 30));
        while (await reader.WaitAsync())
        {
            while (reader.TryDequeue(out var input))
            {
                using var lease = new FrameLease(input);
                if (_parameterSets.UpdateFromAccessUnit(input.Span) || Output.Header is null || Output.Header.Version != version)
                {
                    if (!_parameterSets.IsComplete)
                    {
                        continue; // nothing can be decoded before the first SPS and PPS
                    }

                    version++;
                    Output.Header = BuildHeader(version);
                }

                if (!_parameterSets.IsComplete)
                {
                    continue;
                }

                if (sequence == 0)
                {
                    firstTimestamp = input.CaptureTimestamp;
                }

                // Decode time from the capture clock, so that playback follows real time whatever the frame rate.
                var decodeTime = (ulong)(Stopwatch.GetElapsedTime(firstTimestamp, input.CaptureTimestamp).TotalSeconds * Fmp4Writer.Timescale);
                if (sequence > 0 && decodeTime <= previousDecodeTime)
                {
                    decodeTime = previousDecodeTime + 1;
                }

                var duration = sequence == 0 ? defaultDuration : (uint)Math.Clamp(decodeTime - previousDecodeTime, 1, Fmp4Writer.Timescale);
                previousDecodeTime = decodeTime;
                // An upper bound from the length alone: no second scan of the access unit.
                var size = Fmp4Writer.GetMaxMediaSegmentSize(input.Length);
                var fragment = Output.Pool.Rent(size);
                var written = Fmp4Writer.WriteMediaSegment(fragment.GetWritableSpan(size), input.Span, ++sequence, decodeTime, duration, input.IsKeyFrame);
                fragment.SetLength(written);
                fragment.StampFrom(input, MediaFormat.Fmp4, Output.Info.Width, Output.Info.Height, input.IsKeyFrame);
                fragment.HeaderVersion = version;
                Output.Publish(fragment);
                Interlocked.Increment(ref _fragments);
            }
        }
    }

    /// <inheritdoc />
    protected override void OnStopping() => Output.Header = null;

    private StreamHeader BuildHeader(int version)
    {
        var sps = _parameterSets.Sps.Span;
        var pps = _parameterSets.Pps.Span;
        var info = _parameterSets.Info!.Value;
        var init = new byte[Fmp4Writer.GetInitSegmentSize(sps, pps)];
        var length = Fmp4Writer.WriteInitSegment(init, sps, pps, info);
        Output.Info = new VideoInfo(MediaFormat.Fmp4, info.Width, info.Height, info.FrameRate ?? Source.Info.Fps);
        var mime = $"video/mp4; codecs=\"{info.CodecString}\"";
        // WebCodecs wants the avcC payload as its description; it has always been sent without the optional
        // high-profile tail, which decoders take from the SPS anyway.
        var avcC = new byte[AvcDecoderConfiguration.GetSize(sps, pps, tail: false)];
        AvcDecoderConfiguration.Write(avcC, sps, pps, tail: null);
        var config = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"codec\":\"{info.CodecString}\",\"width\":{info.Width},\"height\":{info.Height},\"description\":\"{Convert.ToBase64String(avcC)}\"}}");
        return new StreamHeader(version, mime, init.AsMemory(0, length), config);
    }
}
