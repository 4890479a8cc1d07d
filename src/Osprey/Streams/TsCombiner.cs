using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Streams;

/// <summary>Interim: copies input chunks to the output (vw's interleaving) until the PID-remapping combiner lands.</summary>
internal sealed class TsCombiner(Feed output)
{
    private IReadOnlyList<string> _inputs = [];

    public void SetInputs(IReadOnlyList<string> inputs) => _inputs = inputs;

    public void Write(string input, Feed feed, Frame frame)
    {
        var primary = _inputs.Count > 0 && _inputs[0] == input;
        var copy = output.Pool.Rent(frame.Length);
        frame.Span.CopyTo(copy.GetWritableSpan(frame.Length));
        copy.SetLength(frame.Length);
        copy.Format = MediaFormat.MpegTs;
        copy.IsKeyFrame = primary && frame.IsKeyFrame;
        copy.CaptureTimestamp = frame.CaptureTimestamp;
        copy.CaptureTimeMicros = frame.CaptureTimeMicros;
        if (primary && feed.Header is { } header)
        {
            output.Header = header;
            copy.HeaderVersion = header.Version;
        }

        output.Publish(copy);
    }
}
