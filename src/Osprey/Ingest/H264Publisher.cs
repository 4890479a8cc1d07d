using Osprey.Codecs.H264;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Ingest;

/// <summary>
/// Reads an H.264 Annex B byte stream (ffmpeg's stdout), splits it into access units and publishes each one
/// into a feed as a frame: the probe header's SEI first, then the access unit, key frames flagged.
/// </summary>
internal static class H264Publisher
{
    /// <summary>Reads until the stream ends; <paramref name="stamp"/> gives each access unit its capture time and counter.</summary>
    public static async Task ReadAccessUnitsAsync(Stream annexB, Feed feed, Func<(long CaptureMicros, uint Counter)> stamp, CancellationToken cancellationToken)
    {
        var assembler = new AccessUnitAssembler();
        var buffer = new byte[64 * 1024];
        var state = (Feed: feed, Stamp: stamp);
        while (true)
        {
            var read = await annexB.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                assembler.Flush(state, static (s, au, key) => Publish(s.Feed, au, key, s.Stamp()));
                return;
            }

            assembler.Push(buffer.AsSpan(0, read), state, static (s, au, key) => Publish(s.Feed, au, key, s.Stamp()));
        }
    }

    /// <summary>
    /// Reads ffmpeg's FLV output (<c>-f flv</c>): one tag per access unit, so each is published the moment it is
    /// whole, a frame sooner than Annex B over a pipe allows.
    /// </summary>
    public static async Task ReadFlvAsync(Stream flv, Feed feed, Func<(long CaptureMicros, uint Counter)> stamp, CancellationToken cancellationToken)
    {
        var reader = new Osprey.Containers.Flv.FlvAvcReader();
        var buffer = new byte[64 * 1024];
        var state = (Feed: feed, Stamp: stamp);
        while (true)
        {
            var read = await flv.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return;
            }

            reader.Push(buffer.AsSpan(0, read), state, static (s, au, key) => Publish(s.Feed, au, key, s.Stamp()));
            if (reader.Error is not null)
            {
                throw new InvalidDataException($"ffmpeg's FLV output could not be read: {reader.Error}");
            }
        }
    }

    /// <summary>Copies one access unit into a pooled frame behind the probe SEI and publishes it.</summary>
    public static void Publish(Feed feed, ReadOnlySpan<byte> accessUnit, bool isKeyFrame, (long CaptureMicros, uint Counter) stamp)
    {
        var info = feed.Info;
        var length = H264Probe.AnnexBSize + accessUnit.Length;
        var frame = feed.Pool.Rent(length);
        var destination = frame.GetWritableSpan(length);
        var probe = new ProbeHeader(stamp.Counter, stamp.CaptureMicros, (ushort)info.Width, (ushort)info.Height, (uint)length);
        var written = H264Probe.WriteAnnexB(destination, probe);
        accessUnit.CopyTo(destination[written..]);
        frame.SetLength(written + accessUnit.Length);
        frame.StampCaptured(MediaFormat.H264, info.Width, info.Height, isKeyFrame, stamp.CaptureMicros);
        feed.Publish(frame);
    }
}
