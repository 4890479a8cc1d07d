using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Osprey.Codecs.H264;

namespace Osprey.Containers.Mp4;

/// <summary>
/// Writes ISO/IEC 14496-12 boxes, big-endian, into a span the caller has already sized: every box size is computed
/// before its header is written (no back-patching), so the writer only moves forward.
/// </summary>
/// <remarks>
/// Box headers: <c>size(4) type(4)</c>; a FullBox adds <c>version(1) flags(3)</c>. The shared boxes of a
/// one-track video movie live here so that <see cref="Fmp4Writer"/> and <see cref="BerryMseWriter"/> differ
/// only where their layouts do.
/// </remarks>
internal ref struct BoxWriter(Span<byte> destination)
{
    public const int HeaderSize = 8;
    public const int FullHeaderSize = 12;

    /// <summary>ftyp: major(4) minor(4) five compatible brands(20).</summary>
    public const int FtypSize = HeaderSize + 8 + 5 * 4;

    /// <summary>mvhd v0: times(8) timescale(4) duration(4) rate(4) volume(2) reserved(10) matrix(36) pre_defined(24) next_track_ID(4).</summary>
    public const int MvhdSize = FullHeaderSize + 96;

    /// <summary>tkhd v0: times(8) track_ID(4) reserved(4) duration(4) reserved(8) layer, group, volume, reserved(8) matrix(36) width, height(8).</summary>
    public const int TkhdSize = FullHeaderSize + 80;

    /// <summary>mdhd v0: times(8) timescale(4) duration(4) language(2) pre_defined(2).</summary>
    public const int MdhdSize = FullHeaderSize + 20;

    /// <summary>hdlr without its name: pre_defined(4) handler_type(4) reserved(12).</summary>
    public const int HdlrSizeWithoutName = FullHeaderSize + 20;

    /// <summary>vmhd: graphicsmode(2) opcolor(6).</summary>
    public const int VmhdSize = FullHeaderSize + 8;

    /// <summary>dinf(dref(entry_count(4) url(flags 1: media in this file))).</summary>
    public const int DinfSize = HeaderSize + FullHeaderSize + 4 + FullHeaderSize;

    /// <summary>An empty stts, stsc or stco: entry_count(4) = 0.</summary>
    public const int EmptyTableSize = FullHeaderSize + 4;

    /// <summary>An empty stsz: sample_size(4) sample_count(4).</summary>
    public const int EmptyStszSize = FullHeaderSize + 8;

    /// <summary>stsd's own fields: entry_count(4).</summary>
    public const int StsdSizeWithoutEntry = FullHeaderSize + 4;

    /// <summary>avc1 (VisualSampleEntry, 14496-12 §12.1.3) without avcC.</summary>
    public const int Avc1SizeWithoutAvcC = HeaderSize + 78;

    /// <summary>trex: track_ID, default_sample_description_index, duration, size, flags (4 each).</summary>
    public const int TrexSize = FullHeaderSize + 20;

    private readonly Span<byte> _buffer = destination;

    public int Position { readonly get; private set; }

    public void U8(byte value) => _buffer[Position++] = value;

    public void U16(int value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[Position..], (ushort)value);
        Position += 2;
    }

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[Position..], value);
        Position += 4;
    }

    public void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer[Position..], value);
        Position += 8;
    }

    public void Bytes(scoped ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer[Position..]);
        Position += bytes.Length;
    }

    public void Zeros(int count)
    {
        _buffer.Slice(Position, count).Clear();
        Position += count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Box(int size, scoped ReadOnlySpan<byte> type)
    {
        U32((uint)size);
        Bytes(type);
    }

    public void FullBox(int size, scoped ReadOnlySpan<byte> type, byte version, uint flags)
    {
        Box(size, type);
        U32(((uint)version << 24) | flags);
    }

    /// <summary>ftyp: major isom, minor 0x200, compatible isom iso2 iso5 avc1 mp41 (iso5 covers default-base-is-moof).</summary>
    public void Ftyp()
    {
        Box(FtypSize, "ftyp"u8);
        Bytes("isom"u8);
        U32(0x200);
        Bytes("isomiso2iso5avc1mp41"u8);
    }

    public void Mvhd(uint timescale, uint nextTrackId)
    {
        FullBox(MvhdSize, "mvhd"u8, 0, 0);
        Zeros(8); // creation_time, modification_time
        U32(timescale);
        U32(0); // duration: unknown, the movie is fragmented
        U32(0x00010000); // rate 1.0 (16.16)
        U16(0x0100); // volume 1.0 (8.8)
        Zeros(10); // reserved
        Matrix();
        Zeros(24); // pre_defined
        U32(nextTrackId);
    }

    public void Tkhd(uint flags, int width, int height)
    {
        FullBox(TkhdSize, "tkhd"u8, 0, flags);
        Zeros(8); // creation_time, modification_time
        U32(1); // track_ID
        Zeros(4); // reserved
        U32(0); // duration
        Zeros(8); // reserved
        Zeros(8); // layer, alternate_group, volume (0 for video), reserved
        Matrix();
        U32((uint)width << 16); // 16.16
        U32((uint)height << 16);
    }

    public void Mdhd(uint timescale)
    {
        FullBox(MdhdSize, "mdhd"u8, 0, 0);
        Zeros(8); // creation_time, modification_time
        U32(timescale);
        U32(0); // duration
        U16(0x55C4); // language "und": pad(1) and three 5-bit letters minus 0x60
        U16(0); // pre_defined
    }

    /// <summary>hdlr 'vide'; <paramref name="name"/> includes its terminating NUL.</summary>
    public void Hdlr(scoped ReadOnlySpan<byte> name)
    {
        FullBox(HdlrSizeWithoutName + name.Length, "hdlr"u8, 0, 0);
        U32(0); // pre_defined
        Bytes("vide"u8);
        Zeros(12); // reserved
        Bytes(name);
    }

    public void Vmhd()
    {
        FullBox(VmhdSize, "vmhd"u8, 0, 1); // flags 1 is required by 14496-12 §12.1.2
        Zeros(8); // graphicsmode, opcolor
    }

    public void Dinf()
    {
        Box(DinfSize, "dinf"u8);
        FullBox(DinfSize - HeaderSize, "dref"u8, 0, 0);
        U32(1); // entry_count
        FullBox(FullHeaderSize, "url "u8, 0, 1); // flags 1: the media data is in this file
    }

    public void Stsd(int avcCSize)
    {
        FullBox(StsdSizeWithoutEntry + Avc1SizeWithoutAvcC + avcCSize, "stsd"u8, 0, 0);
        U32(1); // entry_count
    }

    public void Avc1(int avcCSize, int width, int height)
    {
        Box(Avc1SizeWithoutAvcC + avcCSize, "avc1"u8);
        Zeros(6); // reserved
        U16(1); // data_reference_index
        Zeros(16); // pre_defined, reserved, pre_defined[3]
        U16(width);
        U16(height);
        U32(0x00480000); // horizresolution 72 dpi
        U32(0x00480000); // vertresolution 72 dpi
        U32(0); // reserved
        U16(1); // frame_count
        Zeros(32); // compressorname
        U16(0x18); // depth: colour, no alpha
        U16(0xFFFF); // pre_defined = -1
    }

    /// <summary>avcC: the <see cref="AvcDecoderConfiguration"/> record, with its high-profile tail when <paramref name="tail"/> is given.</summary>
    public void AvcC(int size, scoped ReadOnlySpan<byte> sps, scoped ReadOnlySpan<byte> pps, SpsInfo? tail)
    {
        Box(size, "avcC"u8);
        Position += AvcDecoderConfiguration.Write(_buffer[Position..], sps, pps, tail);
    }

    public void EmptyTable(scoped ReadOnlySpan<byte> type)
    {
        FullBox(EmptyTableSize, type, 0, 0);
        U32(0); // entry_count
    }

    public void EmptyStsz()
    {
        FullBox(EmptyStszSize, "stsz"u8, 0, 0);
        U32(0); // sample_size
        U32(0); // sample_count
    }

    public void Trex(uint defaultSampleFlags)
    {
        FullBox(TrexSize, "trex"u8, 0, 0);
        U32(1); // track_ID
        U32(1); // default_sample_description_index
        U32(0); // default_sample_duration
        U32(0); // default_sample_size
        U32(defaultSampleFlags);
    }

    // The identity transformation matrix {1, 0, 0, 0, 1, 0, 0, 0, 1} as 16.16, 16.16, 2.30.
    private void Matrix()
    {
        U32(0x00010000);
        Zeros(12);
        U32(0x00010000);
        Zeros(12);
        U32(0x40000000);
    }
}

/// <summary>Sample flags (ISO/IEC 14496-12 §8.8.3.1): is_leading(2) depends_on(2) is_depended_on(2) redundancy(2) padding(3) non_sync(1) priority(16), after 4 reserved bits.</summary>
internal static class SampleFlags
{
    /// <summary>sample_depends_on 2 (depends on no other sample), a sync sample: an IDR.</summary>
    public const uint Sync = 0x02000000;

    /// <summary>sample_depends_on 1 (depends on others) and sample_is_non_sync_sample: a P or B picture.</summary>
    public const uint NonSync = 0x01010000;
}
