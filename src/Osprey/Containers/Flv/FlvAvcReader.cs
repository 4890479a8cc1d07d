using System.Buffers.Binary;

namespace Osprey.Containers.Flv;

/// <summary>Receives one H.264 access unit in Annex B form (valid during the call) and whether it is a key frame.</summary>
public delegate void FlvAccessUnitHandler<in TState>(TState state, ReadOnlySpan<byte> annexBAccessUnit, bool isKeyFrame);

/// <summary>
/// Incremental reader of the H.264 video in an FLV stream (what ffmpeg writes with <c>-f flv</c>): each video
/// tag is exactly one access unit, so an access unit is handed out the moment its last byte arrives, where
/// Annex B over a pipe can only end one at the next start code (a frame later).
/// </summary>
/// <remarks>
/// <code>
/// header   "FLV" u8 version, u8 flags, u32 header size (9), then u32 PreviousTagSize0
/// tag      u8 type (9 = video), u24 data size, u24 timestamp, u8 timestamp high, u24 stream id, data, u32 previous tag size
/// video    u8 frame type (1 key) &lt;&lt; 4 | codec (7 AVC), u8 AVCPacketType (0 sequence header, 1 NALUs), s24 composition time
///          type 0: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1); type 1: NAL units behind 4-byte lengths
/// </code>
/// The 4-byte lengths become 4-byte start codes in place; key frames get the SPS and PPS of the sequence header in
/// front, so that each key frame is decodable on its own (FLV carries them only once). Bad input is counted and
/// skipped; nothing throws.
/// </remarks>
public sealed class FlvAvcReader
{
    private const int FileHeaderSize = 9 + 4;
    private const int TagHeaderSize = 11;

    private readonly int _maxTagSize;
    private byte[] _buffer = new byte[64 * 1024];
    private byte[] _output = new byte[64 * 1024];
    private byte[] _parameterSets = [];
    private int _filled;
    private bool _headerSeen;

    /// <summary>Creates a reader that drops tags larger than <paramref name="maxTagSize"/>.</summary>
    public FlvAvcReader(int maxTagSize = 8 * 1024 * 1024) => _maxTagSize = maxTagSize;

    /// <summary>Access units handed out.</summary>
    public long AccessUnits { get; private set; }

    /// <summary>Tags dropped as malformed or oversized (the reader then gives up on the stream).</summary>
    public long BadTags { get; private set; }

    /// <summary>Why the stream was given up, if it was.</summary>
    public string? Error { get; private set; }

    /// <summary>Consumes <paramref name="data"/>; calls <paramref name="onAccessUnit"/> for each complete access unit.</summary>
    public void Push<TState>(ReadOnlySpan<byte> data, TState state, FlvAccessUnitHandler<TState> onAccessUnit)
    {
        ArgumentNullException.ThrowIfNull(onAccessUnit);
        if (Error is not null)
        {
            return;
        }

        Append(data);
        var offset = 0;
        while (Error is null)
        {
            var available = _filled - offset;
            if (!_headerSeen)
            {
                if (available < FileHeaderSize)
                {
                    break;
                }

                if (_buffer[offset] != 'F' || _buffer[offset + 1] != 'L' || _buffer[offset + 2] != 'V')
                {
                    Fail("not an FLV stream");
                    break;
                }

                offset += (int)BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(offset + 5)) + 4;
                _headerSeen = true;
                continue;
            }

            if (available < TagHeaderSize)
            {
                break;
            }

            var type = _buffer[offset] & 0x1F;
            var size = (_buffer[offset + 1] << 16) | (_buffer[offset + 2] << 8) | _buffer[offset + 3];
            if (size > _maxTagSize)
            {
                BadTags++;
                Fail($"a tag of {size} bytes is over the {_maxTagSize}-byte limit");
                break;
            }

            var total = TagHeaderSize + size + 4;
            if (available < total)
            {
                break;
            }

            if (type == 9)
            {
                Video(_buffer.AsSpan(offset + TagHeaderSize, size), state, onAccessUnit);
            }

            offset += total;
        }

        // Keep the unread tail at the start of the buffer.
        _buffer.AsSpan(offset, _filled - offset).CopyTo(_buffer);
        _filled -= offset;
    }

    private void Video<TState>(ReadOnlySpan<byte> tag, TState state, FlvAccessUnitHandler<TState> onAccessUnit)
    {
        if (tag.Length < 5 || (tag[0] & 0x0F) != 7)
        {
            BadTags++;
            return; // not AVC
        }

        var key = tag[0] >> 4 == 1;
        var payload = tag[5..];
        if (tag[1] == 0)
        {
            ReadDecoderConfiguration(payload);
            return;
        }

        if (tag[1] != 1)
        {
            return; // end of sequence
        }

        var needed = (key ? _parameterSets.Length : 0) + payload.Length;
        if (_output.Length < needed)
        {
            _output = new byte[Math.Max(needed, _output.Length * 2)];
        }

        var written = 0;
        if (key)
        {
            _parameterSets.CopyTo(_output, 0);
            written = _parameterSets.Length;
        }

        var start = written;
        while (payload.Length >= 4)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(payload);
            if (length == 0 || length > payload.Length - 4)
            {
                BadTags++;
                return; // a length that runs past the tag: drop the access unit
            }

            BinaryPrimitives.WriteUInt32BigEndian(_output.AsSpan(written), 1); // 00 00 00 01
            payload.Slice(4, (int)length).CopyTo(_output.AsSpan(written + 4));
            written += 4 + (int)length;
            payload = payload[(4 + (int)length)..];
        }

        if (written > start)
        {
            AccessUnits++;
            onAccessUnit(state, _output.AsSpan(0, written), key);
        }
    }

    private void ReadDecoderConfiguration(ReadOnlySpan<byte> record)
    {
        // version, profile, compatibility, level, 0xFC | lengthSizeMinusOne, 0xE0 | numOfSequenceParameterSets, ...
        if (record.Length < 7 || record[0] != 1 || (record[4] & 3) != 3)
        {
            BadTags++;
            return; // only 4-byte NAL lengths are converted in place
        }

        var sets = new List<byte>();
        var position = 5;
        for (var list = 0; list < 2; list++)
        {
            if (position >= record.Length)
            {
                BadTags++;
                return;
            }

            var count = list == 0 ? record[position] & 0x1F : record[position];
            position++;
            for (var i = 0; i < count; i++)
            {
                if (position + 2 > record.Length)
                {
                    BadTags++;
                    return;
                }

                var length = BinaryPrimitives.ReadUInt16BigEndian(record[position..]);
                position += 2;
                if (position + length > record.Length)
                {
                    BadTags++;
                    return;
                }

                sets.AddRange([0, 0, 0, 1]);
                sets.AddRange(record.Slice(position, length));
                position += length;
            }
        }

        _parameterSets = [.. sets];
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_filled + data.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_filled + data.Length, _buffer.Length * 2));
        }

        data.CopyTo(_buffer.AsSpan(_filled));
        _filled += data.Length;
    }

    private void Fail(string error) => Error = error;
}
