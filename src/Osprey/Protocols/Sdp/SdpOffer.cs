using System.Globalization;

namespace Osprey.Protocols.Sdp;

/// <summary>
/// A WebRTC SDP offer (RFC 8866, JSEP RFC 8829) as a WHEP server reads it: the media sections with their mid,
/// direction, codecs (rtpmap, fmtp, rtcp-fb), and the ICE credentials and DTLS fingerprint, from the media
/// section or the session level.
/// </summary>
/// <remarks>Bounded: at most <see cref="MaxLength"/> characters, <see cref="MaxMedia"/> media sections and
/// <see cref="MaxCodecs"/> codecs each; a longer offer is refused, not truncated.</remarks>
public sealed class SdpOffer
{
    /// <summary>The longest offer read (browsers send 4 to 12 KB).</summary>
    public const int MaxLength = 64 * 1024;

    /// <summary>The most media sections read.</summary>
    public const int MaxMedia = 16;

    /// <summary>The most codecs read per media section.</summary>
    public const int MaxCodecs = 64;

    private SdpOffer(List<SdpMedia> media, bool rtcpMuxOnly)
    {
        Media = media;
        _ = rtcpMuxOnly;
    }

    /// <summary>The media sections, in order.</summary>
    public IReadOnlyList<SdpMedia> Media { get; }

    /// <summary>
    /// Parses an offer; false with a reason a client can act on when it is not one (not SDP, too long, no media,
    /// no ICE credentials or fingerprint, a section without a mid).
    /// </summary>
    public static bool TryParse(string text, out SdpOffer? offer, out string? error)
    {
        offer = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "the offer is empty";
            return false;
        }

        if (text.Length > MaxLength)
        {
            error = $"the offer is longer than {MaxLength} characters";
            return false;
        }

        if (!text.StartsWith("v=0", StringComparison.Ordinal))
        {
            error = "not SDP: an offer starts with v=0";
            return false;
        }

        string? sessionUfrag = null, sessionPwd = null, sessionFingerprint = null, sessionSetup = null;
        var media = new List<SdpMedia>();
        SdpMedia? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length < 2 || line[1] != '=')
            {
                continue;
            }

            if (line.Length > 4096)
            {
                error = "a line of the offer is longer than 4096 characters";
                return false;
            }

            var value = line[2..];
            switch (line[0])
            {
                case 'm':
                    if (media.Count == MaxMedia)
                    {
                        error = $"the offer has more than {MaxMedia} media sections";
                        return false;
                    }

                    if (!SdpMedia.TryParseMediaLine(value, out current, out error))
                    {
                        return false;
                    }

                    media.Add(current!);
                    break;
                case 'a':
                    var colon = value.IndexOf(':', StringComparison.Ordinal);
                    var name = colon < 0 ? value : value[..colon];
                    var argument = colon < 0 ? "" : value[(colon + 1)..];
                    if (current is null)
                    {
                        switch (name)
                        {
                            case "ice-ufrag": sessionUfrag = argument; break;
                            case "ice-pwd": sessionPwd = argument; break;
                            case "fingerprint": sessionFingerprint = argument; break;
                            case "setup": sessionSetup = argument; break;
                        }
                    }
                    else if (!current.TryApplyAttribute(name, argument, out error))
                    {
                        return false;
                    }

                    break;
            }
        }

        if (media.Count == 0)
        {
            error = "the offer has no media section (m=)";
            return false;
        }

        foreach (var section in media)
        {
            section.IceUfrag ??= sessionUfrag;
            section.IcePwd ??= sessionPwd;
            section.Fingerprint ??= sessionFingerprint;
            section.Setup ??= sessionSetup;
            if (section.Port == 0)
            {
                continue; // rejected or stopped by the offerer
            }

            if (section.Mid is null)
            {
                error = $"media section {section.Kind} has no a=mid";
                return false;
            }

            if (section.IceUfrag is null || section.IcePwd is null)
            {
                error = $"media section {section.Mid} has no ICE credentials (a=ice-ufrag, a=ice-pwd)";
                return false;
            }

            if (section.Fingerprint is null)
            {
                error = $"media section {section.Mid} has no DTLS fingerprint (a=fingerprint)";
                return false;
            }
        }

        offer = new SdpOffer(media, false);
        error = null;
        return true;
    }
}

/// <summary>One media section of an offer.</summary>
public sealed class SdpMedia
{
    private readonly List<SdpCodec> _codecs = [];

    private SdpMedia(string kind, int port, string protocol, int[] payloadTypes)
    {
        Kind = kind;
        Port = port;
        Protocol = protocol;
        PayloadTypes = payloadTypes;
    }

    /// <summary><c>video</c>, <c>audio</c>, <c>application</c>, ...</summary>
    public string Kind { get; }

    /// <summary>The port of the m= line (0: rejected; browsers write 9).</summary>
    public int Port { get; }

    /// <summary>The transport protocol, e.g. <c>UDP/TLS/RTP/SAVPF</c>.</summary>
    public string Protocol { get; }

    /// <summary>The payload types in the offerer's order of preference.</summary>
    public IReadOnlyList<int> PayloadTypes { get; }

    /// <summary>The codecs with their rtpmap, fmtp and rtcp-fb, in the m= line's order.</summary>
    public IReadOnlyList<SdpCodec> Codecs => _codecs;

    /// <summary>a=mid.</summary>
    public string? Mid { get; private set; }

    /// <summary>The offerer's direction: sendrecv (the default), sendonly, recvonly or inactive.</summary>
    public string Direction { get; private set; } = "sendrecv";

    /// <summary>a=ice-ufrag (this section's or the session's).</summary>
    public string? IceUfrag { get; internal set; }

    /// <summary>a=ice-pwd.</summary>
    public string? IcePwd { get; internal set; }

    /// <summary>a=fingerprint: the hash name and value.</summary>
    public string? Fingerprint { get; internal set; }

    /// <summary>a=setup (actpass, active, passive).</summary>
    public string? Setup { get; internal set; }

    /// <summary>a=rtcp-mux offered.</summary>
    public bool RtcpMux { get; private set; }

    /// <summary>a=rtcp-rsize offered (reduced-size RTCP, RFC 5506).</summary>
    public bool RtcpReducedSize { get; private set; }

    /// <summary>The codec with <paramref name="payloadType"/>, or null.</summary>
    public SdpCodec? Codec(int payloadType) => _codecs.Find(c => c.PayloadType == payloadType);

    internal static bool TryParseMediaLine(string value, out SdpMedia? media, out string? error)
    {
        media = null;
        var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !int.TryParse(parts[1].Split('/')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            error = $"malformed media line m={value}";
            return false;
        }

        if (parts.Length - 3 > SdpOffer.MaxCodecs)
        {
            error = $"a media line lists more than {SdpOffer.MaxCodecs} formats";
            return false;
        }

        var types = new List<int>();
        for (var i = 3; i < parts.Length; i++)
        {
            if (int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out var pt) && pt <= 127)
            {
                types.Add(pt);
            }
        }

        media = new SdpMedia(parts[0], port, parts[2], [.. types]);
        foreach (var pt in types)
        {
            media._codecs.Add(new SdpCodec(pt));
        }

        error = null;
        return true;
    }

    internal bool TryApplyAttribute(string name, string argument, out string? error)
    {
        error = null;
        switch (name)
        {
            case "mid":
                Mid = argument.Trim();
                break;
            case "sendrecv" or "sendonly" or "recvonly" or "inactive":
                Direction = name;
                break;
            case "ice-ufrag":
                IceUfrag = argument.Trim();
                break;
            case "ice-pwd":
                IcePwd = argument.Trim();
                break;
            case "fingerprint":
                Fingerprint = argument.Trim();
                break;
            case "setup":
                Setup = argument.Trim();
                break;
            case "rtcp-mux":
                RtcpMux = true;
                break;
            case "rtcp-rsize":
                RtcpReducedSize = true;
                break;
            case "rtpmap":
            case "fmtp":
            case "rtcp-fb":
                var space = argument.IndexOf(' ', StringComparison.Ordinal);
                if (space < 0)
                {
                    break; // a=rtcp-fb:* nack and friends without a specific PT: nothing to apply
                }

                if (!int.TryParse(argument.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var pt))
                {
                    break;
                }

                var codec = Codec(pt);
                if (codec is null)
                {
                    break; // a payload type the m= line does not list
                }

                var rest = argument[(space + 1)..].Trim();
                if (name == "rtpmap")
                {
                    var slash = rest.Split('/');
                    codec.Name = slash[0];
                    codec.ClockRate = slash.Length > 1 && int.TryParse(slash[1], NumberStyles.None, CultureInfo.InvariantCulture, out var rate) ? rate : 0;
                    codec.Channels = slash.Length > 2 && int.TryParse(slash[2], NumberStyles.None, CultureInfo.InvariantCulture, out var channels) ? channels : 1;
                }
                else if (name == "fmtp")
                {
                    codec.Fmtp = rest;
                }
                else if (codec.Feedback.Count < 16)
                {
                    codec.Feedback.Add(rest);
                }

                break;
        }

        return true;
    }
}

/// <summary>One payload type of a media section.</summary>
public sealed class SdpCodec(int payloadType)
{
    /// <summary>The payload type.</summary>
    public int PayloadType { get; } = payloadType;

    /// <summary>The encoding name of a=rtpmap (<c>H264</c>, <c>opus</c>, <c>rtx</c>, ...); empty without one.</summary>
    public string Name { get; internal set; } = "";

    /// <summary>The clock rate of a=rtpmap.</summary>
    public int ClockRate { get; internal set; }

    /// <summary>The channels of a=rtpmap (audio).</summary>
    public int Channels { get; internal set; } = 1;

    /// <summary>The format parameters of a=fmtp, as written.</summary>
    public string Fmtp { get; internal set; } = "";

    /// <summary>The a=rtcp-fb values (<c>nack</c>, <c>nack pli</c>, <c>ccm fir</c>, ...).</summary>
    public List<string> Feedback { get; } = [];

    /// <summary>One fmtp parameter's value (names compare case-insensitively), or null.</summary>
    public string? Parameter(string name)
    {
        foreach (var part in Fmtp.Split(';'))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && part[..eq].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return part[(eq + 1)..].Trim();
            }
        }

        return null;
    }
}
