using Osprey.Codecs.H264;

namespace Osprey.Containers.Mp4;

/// <summary>
/// How an init segment differs between the layouts Osprey writes (<see cref="Fmp4Writer"/>'s, and BerryMSE's
/// exact one in <see cref="BerryMseWriter"/>): everything else in ftyp and moov is the same.
/// </summary>
internal readonly ref struct InitSegmentLayout
{
    public required uint MediaTimescale { get; init; }

    public required uint NextTrackId { get; init; }

    public required uint TrackHeaderFlags { get; init; }

    public required ReadOnlySpan<byte> HandlerName { get; init; }

    /// <summary>True to write the avcC high-profile tail where the profile has one.</summary>
    public required bool HighProfileTail { get; init; }

    /// <summary>True for BerryMSE's order of the empty sample tables (stsz, stsc, stts, stco) instead of stts, stsc, stsz, stco.</summary>
    public required bool BerryMseTableOrder { get; init; }

    /// <summary>True to put an mehd (fragment_duration 0) in mvex.</summary>
    public required bool MovieExtendsHeader { get; init; }

    public required uint TrexDefaultSampleFlags { get; init; }
}

/// <summary>The ftyp and moov of a one-track H.264 fragmented MP4, written once for every layout.</summary>
internal static class InitSegmentWriter
{
    private const uint MovieTimescale = 1000;
    private const int MehdSize = BoxWriter.FullHeaderSize + 4;

    /// <summary>Bytes of the init segment for these parameter sets.</summary>
    public static int GetSize(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, in InitSegmentLayout layout)
    {
        Fmp4Writer.ValidateParameterSets(sps, pps);
        return BoxWriter.FtypSize + MoovSize(AvcCSize(sps, pps, layout), layout);
    }

    /// <summary>Writes ftyp and moov; returns the bytes written, <see cref="GetSize"/>.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, in SpsInfo info, int width, int height, in InitSegmentLayout layout)
    {
        var size = GetSize(sps, pps, layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, size, nameof(destination));
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        ArgumentOutOfRangeException.ThrowIfNegative(height);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, ushort.MaxValue);

        var avcC = AvcCSize(sps, pps, layout);
        var stsd = BoxWriter.StsdSizeWithoutEntry + BoxWriter.Avc1SizeWithoutAvcC + avcC;
        var stbl = BoxWriter.HeaderSize + stsd + 3 * BoxWriter.EmptyTableSize + BoxWriter.EmptyStszSize;
        var minf = BoxWriter.HeaderSize + BoxWriter.VmhdSize + BoxWriter.DinfSize + stbl;
        var mdia = BoxWriter.HeaderSize + BoxWriter.MdhdSize + BoxWriter.HdlrSizeWithoutName + layout.HandlerName.Length + minf;
        var trak = BoxWriter.HeaderSize + BoxWriter.TkhdSize + mdia;

        var w = new BoxWriter(destination);
        w.Ftyp();
        w.Box(MoovSize(avcC, layout), "moov"u8);
        w.Mvhd(MovieTimescale, layout.NextTrackId);
        w.Box(trak, "trak"u8);
        w.Tkhd(layout.TrackHeaderFlags, width, height);
        w.Box(mdia, "mdia"u8);
        w.Mdhd(layout.MediaTimescale);
        w.Hdlr(layout.HandlerName);
        w.Box(minf, "minf"u8);
        w.Vmhd();
        w.Dinf();
        w.Box(stbl, "stbl"u8);
        w.Stsd(avcC);
        w.Avc1(avcC, width, height);
        w.AvcC(avcC, sps, pps, layout.HighProfileTail ? info : null);
        if (layout.BerryMseTableOrder)
        {
            w.EmptyStsz();
            w.EmptyTable("stsc"u8);
            w.EmptyTable("stts"u8);
        }
        else
        {
            w.EmptyTable("stts"u8);
            w.EmptyTable("stsc"u8);
            w.EmptyStsz();
        }

        w.EmptyTable("stco"u8);
        w.Box(MvexSize(layout), "mvex"u8);
        if (layout.MovieExtendsHeader)
        {
            w.FullBox(MehdSize, "mehd"u8, 0, 0);
            w.U32(0); // fragment_duration
        }

        w.Trex(layout.TrexDefaultSampleFlags);
        return w.Position;
    }

    private static int AvcCSize(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, in InitSegmentLayout layout) =>
        BoxWriter.HeaderSize + AvcDecoderConfiguration.GetSize(sps, pps, layout.HighProfileTail);

    private static int MvexSize(in InitSegmentLayout layout) =>
        BoxWriter.HeaderSize + (layout.MovieExtendsHeader ? MehdSize : 0) + BoxWriter.TrexSize;

    private static int MoovSize(int avcC, in InitSegmentLayout layout) =>
        BoxWriter.HeaderSize + BoxWriter.MvhdSize + MvexSize(layout) +
        BoxWriter.HeaderSize + BoxWriter.TkhdSize +
        BoxWriter.HeaderSize + BoxWriter.MdhdSize + BoxWriter.HdlrSizeWithoutName + layout.HandlerName.Length +
        BoxWriter.HeaderSize + BoxWriter.VmhdSize + BoxWriter.DinfSize +
        BoxWriter.HeaderSize + BoxWriter.StsdSizeWithoutEntry + BoxWriter.Avc1SizeWithoutAvcC + avcC +
        3 * BoxWriter.EmptyTableSize + BoxWriter.EmptyStszSize;
}
