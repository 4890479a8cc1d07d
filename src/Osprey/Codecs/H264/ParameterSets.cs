namespace Osprey.Codecs.H264;

/// <summary>
/// The latest SPS and PPS of a stream; <see cref="Update"/> says when one changed, when a new init segment (avcC)
/// is due.
/// </summary>
/// <remarks>
/// Copies are kept, so the NAL units passed in may be reused afterwards. A parameter set equal to the one held is
/// compared, not copied: nothing is allocated while they stay the same. An SPS that does not parse is ignored, so
/// <see cref="Info"/> always describes <see cref="Sps"/>. One SPS and one PPS are kept whatever their ids, which is
/// what encoders for live video (x264, hardware encoders) produce. Not thread-safe: one writer (the feed's
/// producer) and readers that take <see cref="Version"/> together with the sets under the caller's own lock.
/// </remarks>
public sealed class ParameterSets
{
    private byte[] _sps = [];
    private byte[] _pps = [];

    /// <summary>The latest SPS NAL unit (header byte included, no start code); empty until one is seen.</summary>
    public ReadOnlyMemory<byte> Sps => _sps;

    /// <summary>The latest PPS NAL unit (header byte included, no start code); empty until one is seen.</summary>
    public ReadOnlyMemory<byte> Pps => _pps;

    /// <summary>What the latest SPS says; null until one has parsed.</summary>
    public SpsInfo? Info { get; private set; }

    /// <summary>True once both an SPS and a PPS are held: an init segment can be written.</summary>
    public bool IsComplete => _sps.Length > 0 && _pps.Length > 0;

    /// <summary>Incremented at every change of either parameter set.</summary>
    public int Version { get; private set; }

    /// <summary>
    /// Takes an SPS or PPS NAL unit (no start code) and returns true when it differs from the one held; other NAL
    /// unit types, and SPSs that do not parse, are ignored.
    /// </summary>
    public bool Update(ReadOnlySpan<byte> nal)
    {
        switch (AnnexB.TypeOf(nal))
        {
            case NalUnitType.Sps:
                if (nal.SequenceEqual(_sps) || !SpsParser.TryParse(nal, out var info))
                {
                    return false;
                }

                _sps = nal.ToArray();
                Info = info;
                Version++;
                return true;
            case NalUnitType.Pps:
                if (nal.SequenceEqual(_pps))
                {
                    return false;
                }

                _pps = nal.ToArray();
                Version++;
                return true;
            default:
                return false;
        }
    }

    /// <summary>Updates from every SPS and PPS in an Annex B access unit; true when any changed.</summary>
    public bool UpdateFromAccessUnit(ReadOnlySpan<byte> annexBAccessUnit)
    {
        var changed = false;
        foreach (var nal in AnnexB.EnumerateNalUnits(annexBAccessUnit))
        {
            changed |= Update(nal);
        }

        return changed;
    }
}
