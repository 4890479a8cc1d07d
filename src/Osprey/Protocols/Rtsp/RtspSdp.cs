using System.Text;

namespace Osprey.Protocols.Rtsp;

/// <summary>The SDP of a DESCRIBE answer (RFC 2326 appendix C, RFC 6184 §8.2): one H.264 video track.</summary>
public static class RtspSdp
{
    /// <summary>The payload type of the video (the shared packetizer's).</summary>
    public const int PayloadType = 96;

    /// <summary>The control attribute of the one track; SETUP names it after the feed's URL.</summary>
    public const string TrackControl = "trackID=0";

    /// <summary>
    /// Writes the description of feed <paramref name="name"/>: packetization-mode=1, the profile-level-id and
    /// sprop-parameter-sets of <paramref name="sps"/> and <paramref name="pps"/> (NAL units, no start codes) so
    /// that a player can open its decoder before the first in-band SPS.
    /// </summary>
    public static string Write(string name, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, string sessionId, string serverAddress)
    {
        var profile = sps.Length >= 4 ? Convert.ToHexStringLower(sps.Slice(1, 3)) : "42e01f";
        var text = new StringBuilder();
        text.Append("v=0\r\n");
        text.Append("o=- ").Append(sessionId).Append(" 1 IN IP4 ").Append(serverAddress).Append("\r\n");
        text.Append("s=").Append(Sanitize(name)).Append("\r\n");
        text.Append("c=IN IP4 0.0.0.0\r\n");
        text.Append("t=0 0\r\n");
        text.Append("a=tool:Osprey\r\n");
        text.Append("a=range:npt=0-\r\n");
        text.Append("a=control:*\r\n");
        text.Append("m=video 0 RTP/AVP ").Append(PayloadType).Append("\r\n");
        text.Append("a=rtpmap:").Append(PayloadType).Append(" H264/90000\r\n");
        text.Append("a=fmtp:").Append(PayloadType).Append(" packetization-mode=1;profile-level-id=").Append(profile);
        if (sps.Length > 0 && pps.Length > 0)
        {
            text.Append(";sprop-parameter-sets=").Append(Convert.ToBase64String(sps)).Append(',').Append(Convert.ToBase64String(pps));
        }

        text.Append("\r\n");
        text.Append("a=control:").Append(TrackControl).Append("\r\n");
        return text.ToString();
    }

    private static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(char.IsControl(c) ? '_' : c);
        }

        return builder.Length == 0 ? "Osprey" : builder.ToString();
    }
}
