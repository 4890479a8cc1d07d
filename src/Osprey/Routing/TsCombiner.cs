using Osprey.Containers.MpegTs;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Routing;

/// <summary>
/// A combined stream's writer: each input chunk goes through the <see cref="TsStreamCombiner"/> (PIDs remapped per
/// input slot, the inputs' own PAT/PMT replaced by one merged programme) into one frame of the output feed.
/// </summary>
/// <remarks>Not thread-safe: <see cref="CombinedStream"/> calls it under its lock.</remarks>
internal sealed class TsCombiner(Feed output)
{
    private readonly TsStreamCombiner _combiner = new(maxInputs: 16);
    private readonly Dictionary<string, StreamHeaderGate> _headers = new(StringComparer.Ordinal);

    /// <summary>Inputs whose chunks could not be placed (more inputs than slots).</summary>
    public long RefusedInputs { get; private set; }

    public void SetInputs(IReadOnlyList<string> inputs)
    {
        foreach (var name in _headers.Keys.ToList())
        {
            if (!inputs.Contains(name))
            {
                _combiner.RemoveInput(name);
                _headers.Remove(name);
            }
        }

        foreach (var name in inputs)
        {
            if (_headers.ContainsKey(name))
            {
                continue;
            }

            if (_combiner.TryGetSlot(name, out _) || CountInputs() < _combiner.MaxInputs)
            {
                _combiner.AddInput(name);
                _headers[name] = default;
            }
            else
            {
                RefusedInputs++;
            }
        }

        // A new layout (muted audio, say) reaches viewers at once, not at the next key frame.
        _combiner.RequestPsi();
    }

    public void Write(string input, Feed feed, Frame frame)
    {
        if (!_combiner.TryGetSlot(input, out var slot))
        {
            return;
        }

        var gate = _headers[input];
        if (gate.Pending(feed, frame, anyVersion: false) is { } header)
        {
            // A chunk in the middle of a group of pictures carries no tables: take them from the feed's header.
            _combiner.SetProgram(slot, TsProgram.FromPsiPackets(header.InitSegment.Span));
            gate.MarkApplied(frame);
            _headers[input] = gate;
        }

        var capacity = TsStreamCombiner.GetMaxOutputSize(frame.Length);
        var combined = output.Pool.Rent(capacity);
        var length = _combiner.Write(slot, frame.Span, frame.IsKeyFrame, combined.GetWritableSpan(capacity), out var isKey);
        if (length == 0)
        {
            combined.Release();
            return;
        }

        combined.SetLength(length);
        combined.StampFrom(frame, MediaFormat.MpegTs, 0, 0, isKey);
        var version = _combiner.HeaderVersion;
        if (output.Header?.Version != version)
        {
            output.Header = new StreamHeader(version, TsPacket.MimeType, _combiner.Header.ToArray());
        }

        combined.HeaderVersion = version;
        output.Publish(combined);
    }

    private int CountInputs() => _headers.Count;
}
