namespace Osprey.Containers.MpegTs;

/// <summary>
/// The picture size and frame rate of MPEG-1/2 video, read from the sequence header (ISO/IEC 11172-2 2.4.2.3) that
/// starts a key chunk, so that a TS feed shows its size in the API like other feeds.
/// </summary>
public static class MpegVideoSequenceHeader
{
    private static ReadOnlySpan<byte> StartCode => [0x00, 0x00, 0x01, 0xB3];

    /// <summary>The frame rates of frame_rate_code 1-8 (0 and 9-15 are reserved).</summary>
    private static ReadOnlySpan<double> FrameRates => [0, 24000 / 1001.0, 24, 25, 30000 / 1001.0, 30, 50, 60000 / 1001.0, 60];

    /// <summary>
    /// Looks for a sequence header in the payloads of the first <paramref name="maxPackets"/> packets of
    /// <paramref name="packets"/> (ffmpeg writes it right after the PES header of a key frame).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> packets, out int width, out int height, out double fps, int maxPackets = 8)
    {
        width = height = 0;
        fps = 0;
        for (var offset = 0; offset + TsPacket.Size <= packets.Length && maxPackets-- > 0; offset += TsPacket.Size)
        {
            var payload = TsPacket.GetPayload(packets.Slice(offset, TsPacket.Size));
            var start = payload.IndexOf(StartCode);
            if (start < 0 || payload.Length - start < 8)
            {
                continue;
            }

            // 12 bits width, 12 bits height, 4 bits aspect ratio, 4 bits frame_rate_code.
            var header = payload.Slice(start + 4, 4);
            var w = (header[0] << 4) | (header[1] >> 4);
            var h = ((header[1] & 0x0F) << 8) | header[2];
            var rateCode = header[3] & 0x0F;
            if (w == 0 || h == 0)
            {
                continue;
            }

            width = w;
            height = h;
            fps = rateCode < FrameRates.Length ? FrameRates[rateCode] : 0;
            return true;
        }

        return false;
    }
}
