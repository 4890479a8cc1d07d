using System.Globalization;

namespace Osprey.Protocols.Rtsp;

/// <summary>A client's Transport header (RFC 2326 §12.39), the parts a unicast player sends.</summary>
/// <param name="Interleaved">True for <c>RTP/AVP/TCP</c>: RTP inside the RTSP connection.</param>
/// <param name="RtpChannel">The interleaved channel of RTP (RTCP's is the next).</param>
/// <param name="ClientRtpPort">For UDP: the client's RTP port (RTCP's is <see cref="ClientRtcpPort"/>).</param>
/// <param name="ClientRtcpPort">For UDP: the client's RTCP port.</param>
public readonly record struct RtspTransport(bool Interleaved, int RtpChannel, int ClientRtpPort, int ClientRtcpPort)
{
    /// <summary>
    /// Reads the first transport of <paramref name="header"/> this server can serve: unicast RTP/AVP over TCP
    /// (<c>interleaved=a-b</c>, 0-1 when absent) or UDP (<c>client_port=a-b</c>). False with a reason otherwise
    /// (multicast, another profile, no ports).
    /// </summary>
    public static bool TryParse(string? header, out RtspTransport transport, out string? error)
    {
        transport = default;
        error = "no Transport header";
        if (string.IsNullOrWhiteSpace(header))
        {
            return false;
        }

        foreach (var spec in header.Split(','))
        {
            var fields = spec.Trim().Split(';');
            var profile = fields[0].Trim();
            var tcp = profile.Equals("RTP/AVP/TCP", StringComparison.OrdinalIgnoreCase);
            var udp = profile.Equals("RTP/AVP", StringComparison.OrdinalIgnoreCase) || profile.Equals("RTP/AVP/UDP", StringComparison.OrdinalIgnoreCase);
            if (!tcp && !udp)
            {
                error = $"the transport '{Printable(profile)}' is not RTP/AVP or RTP/AVP/TCP";
                continue;
            }

            var multicast = false;
            (int, int)? channels = null;
            (int, int)? ports = null;
            var bad = false;
            foreach (var raw in fields.AsSpan(1))
            {
                var field = raw.Trim();
                if (field.Equals("multicast", StringComparison.OrdinalIgnoreCase))
                {
                    multicast = true;
                }
                else if (field.StartsWith("interleaved=", StringComparison.OrdinalIgnoreCase))
                {
                    channels = Range(field[12..], 255);
                    bad |= channels is null;
                }
                else if (field.StartsWith("client_port=", StringComparison.OrdinalIgnoreCase))
                {
                    ports = Range(field[12..], 65535);
                    bad |= ports is null;
                }
            }

            if (multicast)
            {
                error = "multicast is not served (unicast is)";
                continue;
            }

            if (bad)
            {
                error = "a malformed interleaved= or client_port=";
                continue;
            }

            if (tcp)
            {
                var (rtp, _) = channels ?? (0, 1);
                transport = new RtspTransport(true, rtp, 0, 0);
                error = null;
                return true;
            }

            if (ports is not { } p || p.Item1 == 0)
            {
                error = "UDP without client_port=";
                continue;
            }

            transport = new RtspTransport(false, 0, p.Item1, p.Item2);
            error = null;
            return true;
        }

        return false;
    }

    /// <summary>The Transport header of the SETUP response.</summary>
    public string Describe(int serverRtpPort, int serverRtcpPort, uint ssrc) => Interleaved
        ? $"RTP/AVP/TCP;unicast;interleaved={RtpChannel}-{RtpChannel + 1};ssrc={ssrc:X8}"
        : $"RTP/AVP;unicast;client_port={ClientRtpPort}-{ClientRtcpPort};server_port={serverRtpPort}-{serverRtcpPort};ssrc={ssrc:X8}";

    private static (int, int)? Range(string value, int max)
    {
        var dash = value.IndexOf('-', StringComparison.Ordinal);
        var first = dash < 0 ? value : value[..dash];
        if (!int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var a) || a > max)
        {
            return null;
        }

        if (dash < 0)
        {
            return a + 1 > max ? null : (a, a + 1);
        }

        return int.TryParse(value[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var b) && b <= max ? (a, b) : null;
    }

    private static string Printable(string value) => value.Length > 40 ? value[..40] + "..." : value;
}
