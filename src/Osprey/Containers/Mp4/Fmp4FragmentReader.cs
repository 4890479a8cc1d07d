using System.Buffers.Binary;

namespace Osprey.Containers.Mp4;

/// <summary>What a media segment (moof + mdat) says about its samples: when they start, how long they last.</summary>
/// <param name="DecodeTime">tfdt's baseMediaDecodeTime, in the track's timescale.</param>
/// <param name="Duration">The sum of the samples' durations (trun, or tfhd's default), in the track's timescale.</param>
/// <param name="SampleCount">Samples in the fragment's first track run.</param>
/// <param name="StartsWithSyncSample">True when the first sample is a sync sample (a key frame).</param>
public readonly record struct Fmp4FragmentInfo(ulong DecodeTime, ulong Duration, uint SampleCount, bool StartsWithSyncSample);

/// <summary>
/// Reads the timing of one fMP4 media segment (ISO/IEC 14496-12 §8.8: moof, traf, tfhd, tfdt, trun), such as
/// <see cref="Fmp4Writer"/> writes, so that HLS can give its parts durations from the media timeline.
/// </summary>
/// <remarks>Pure, allocation-free, and strict: any box that runs past its parent, a missing tfdt or trun, or a
/// run with more samples than its box can hold is refused (false), never an exception.</remarks>
public static class Fmp4FragmentReader
{
    private const uint TfhdDefaultSampleDuration = 0x000008;
    private const uint TfhdBaseDataOffset = 0x000001;
    private const uint TfhdSampleDescriptionIndex = 0x000002;
    private const uint TrunDataOffset = 0x000001;
    private const uint TrunFirstSampleFlags = 0x000004;
    private const uint TrunSampleDuration = 0x000100;
    private const uint TrunSampleSize = 0x000200;
    private const uint TrunSampleFlags = 0x000400;
    private const uint TrunCompositionOffset = 0x000800;
    private const uint NonSyncBit = 0x00010000;

    /// <summary>Reads the first track fragment of the moof in <paramref name="fragment"/>; false when it is not a well-formed one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> fragment, out Fmp4FragmentInfo info)
    {
        info = default;
        return TryFindBox(fragment, "moof"u8, out var moof)
            && TryFindBox(moof, "traf"u8, out var traf)
            && TryReadTraf(traf, out info);
    }

    private static bool TryReadTraf(ReadOnlySpan<byte> traf, out Fmp4FragmentInfo info)
    {
        info = default;
        uint defaultDuration = 0;
        if (TryFindBox(traf, "tfhd"u8, out var tfhd))
        {
            if (tfhd.Length < 8)
            {
                return false;
            }

            var flags = BinaryPrimitives.ReadUInt32BigEndian(tfhd) & 0xFFFFFF;
            var at = 8 + ((flags & TfhdBaseDataOffset) != 0 ? 8 : 0) + ((flags & TfhdSampleDescriptionIndex) != 0 ? 4 : 0);
            if ((flags & TfhdDefaultSampleDuration) != 0)
            {
                if (tfhd.Length < at + 4)
                {
                    return false;
                }

                defaultDuration = BinaryPrimitives.ReadUInt32BigEndian(tfhd[at..]);
            }
        }

        if (!TryFindBox(traf, "tfdt"u8, out var tfdt) || tfdt.Length < 8)
        {
            return false;
        }

        ulong decodeTime;
        if (tfdt[0] == 1)
        {
            if (tfdt.Length < 12)
            {
                return false;
            }

            decodeTime = BinaryPrimitives.ReadUInt64BigEndian(tfdt[4..]);
        }
        else
        {
            decodeTime = BinaryPrimitives.ReadUInt32BigEndian(tfdt[4..]);
        }

        if (!TryFindBox(traf, "trun"u8, out var trun) || trun.Length < 8)
        {
            return false;
        }

        var trunFlags = BinaryPrimitives.ReadUInt32BigEndian(trun) & 0xFFFFFF;
        var count = BinaryPrimitives.ReadUInt32BigEndian(trun[4..]);
        var pos = 8;
        if ((trunFlags & TrunDataOffset) != 0)
        {
            pos += 4;
        }

        uint? firstFlags = null;
        if ((trunFlags & TrunFirstSampleFlags) != 0)
        {
            if (trun.Length < pos + 4)
            {
                return false;
            }

            firstFlags = BinaryPrimitives.ReadUInt32BigEndian(trun[pos..]);
            pos += 4;
        }

        var perSample = ((trunFlags & TrunSampleDuration) != 0 ? 4 : 0) + ((trunFlags & TrunSampleSize) != 0 ? 4 : 0)
            + ((trunFlags & TrunSampleFlags) != 0 ? 4 : 0) + ((trunFlags & TrunCompositionOffset) != 0 ? 4 : 0);
        if (count == 0 || pos > trun.Length || (perSample > 0 && count > (uint)((trun.Length - pos) / perSample)))
        {
            return false;
        }

        ulong duration = 0;
        var sync = true;
        for (var i = 0u; i < count; i++)
        {
            var sample = trun[(pos + (int)(i * (uint)perSample))..];
            var field = 0;
            if ((trunFlags & TrunSampleDuration) != 0)
            {
                duration += BinaryPrimitives.ReadUInt32BigEndian(sample);
                field += 4;
            }
            else
            {
                duration += defaultDuration;
            }

            if ((trunFlags & TrunSampleSize) != 0)
            {
                field += 4;
            }

            if (i == 0)
            {
                var flags = firstFlags ?? ((trunFlags & TrunSampleFlags) != 0 ? BinaryPrimitives.ReadUInt32BigEndian(sample[field..]) : 0);
                sync = (flags & NonSyncBit) == 0;
            }
        }

        info = new Fmp4FragmentInfo(decodeTime, duration, count, sync);
        return true;
    }

    /// <summary>The payload (after the 8-byte header) of the first box of <paramref name="type"/> among the boxes of <paramref name="boxes"/>.</summary>
    private static bool TryFindBox(ReadOnlySpan<byte> boxes, ReadOnlySpan<byte> type, out ReadOnlySpan<byte> payload)
    {
        payload = default;
        while (boxes.Length >= 8)
        {
            var size = BinaryPrimitives.ReadUInt32BigEndian(boxes);
            if (size < 8 || size > (uint)boxes.Length)
            {
                return false; // 0 (to the end), 1 (64-bit) and overruns are not what a live fragment holds
            }

            if (boxes.Slice(4, 4).SequenceEqual(type))
            {
                payload = boxes[8..(int)size];
                return true;
            }

            boxes = boxes[(int)size..];
        }

        return false;
    }
}
