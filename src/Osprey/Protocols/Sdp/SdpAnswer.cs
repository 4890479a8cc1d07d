using System.Globalization;
using System.Text;

namespace Osprey.Protocols.Sdp;

/// <summary>A host candidate the answer lists (RFC 8445 §5.1.1.1: typ host).</summary>
/// <param name="Address">An address literal or a name.</param>
/// <param name="Port">The UDP port.</param>
public readonly record struct SdpCandidate(string Address, int Port);

/// <summary>What the server answers with, beyond what it read in the offer.</summary>
public sealed class SdpAnswerOptions
{
    /// <summary>This session's ICE username fragment.</summary>
    public required string IceUfrag { get; init; }

    /// <summary>This session's ICE password.</summary>
    public required string IcePwd { get; init; }

    /// <summary>The SHA-256 fingerprint of the DTLS certificate, as <c>AB:CD:...</c>.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>The candidates, all of them (no trickle).</summary>
    public required IReadOnlyList<SdpCandidate> Candidates { get; init; }

    /// <summary>The SSRC of the video sent.</summary>
    public required uint VideoSsrc { get; init; }

    /// <summary>The SSRC of the (silent) audio track.</summary>
    public required uint AudioSsrc { get; init; }

    /// <summary>The profile-level-id of the stream's SPS (e.g. <c>42c01e</c>), or null to answer the fallback.</summary>
    public string? StreamProfileLevelId { get; init; }

    /// <summary>The CNAME of the stream.</summary>
    public string Cname { get; init; } = "osprey";

    /// <summary>The session id of the o= line.</summary>
    public ulong SessionId { get; init; }
}

/// <summary>The codec choice for one offer: the payload types the answer uses.</summary>
/// <param name="VideoMid">The mid of the video section answered.</param>
/// <param name="VideoPayloadType">The H.264 payload type chosen.</param>
/// <param name="VideoFmtp">The fmtp answered for it.</param>
/// <param name="AudioMid">The mid of the audio section answered, or null.</param>
/// <param name="AudioPayloadType">The audio payload type answered (Opus if offered, else PCMU), or -1.</param>
public readonly record struct SdpChoice(string VideoMid, int VideoPayloadType, string VideoFmtp, string? AudioMid, int AudioPayloadType);

/// <summary>
/// Writes the answer of a WHEP server to a browser's offer: ICE-lite, DTLS passive, BUNDLE and rtcp-mux, one
/// H.264 payload type (RFC 6184 packetization mode 1, the profile matched to the stream's SPS), an audio section
/// always (browsers hold video back without one), every candidate and a=end-of-candidates.
/// </summary>
public static class SdpAnswer
{
    /// <summary>The profile-level-id answered when no offered one matches the stream: Constrained Baseline 3.1.</summary>
    public const string FallbackProfileLevelId = "42e01f";

    /// <summary>
    /// Picks the payload types: for video the H.264 with packetization-mode=1 whose profile matches the stream's
    /// (RFC 6184 §8.1), else the offered 42e01f, else any with mode 1; for audio Opus, else PCMU. False with a
    /// reason when the offer has no video section the server can send to, or no H.264 in mode 1.
    /// </summary>
    public static bool TryChoose(SdpOffer offer, string? streamProfileLevelId, out SdpChoice choice, out string? error)
    {
        ArgumentNullException.ThrowIfNull(offer);
        choice = default;
        var video = offer.Media.FirstOrDefault(m => m.Kind == "video" && m.Port != 0);
        if (video is null)
        {
            error = "the offer has no video section";
            return false;
        }

        if (video.Direction is "sendonly" or "inactive")
        {
            error = $"the offer's video section is {video.Direction}: a WHEP viewer receives (recvonly or sendrecv)";
            return false;
        }

        if (!video.Protocol.Contains("SAVPF", StringComparison.Ordinal) && !video.Protocol.Contains("SAVP", StringComparison.Ordinal))
        {
            error = $"the offer's video transport {video.Protocol} is not DTLS-SRTP (UDP/TLS/RTP/SAVPF)";
            return false;
        }

        var h264 = video.Codecs.Where(c => c.Name.Equals("H264", StringComparison.OrdinalIgnoreCase) && c.ClockRate == 90000 && c.Parameter("packetization-mode") == "1").ToList();
        if (h264.Count == 0)
        {
            error = "the offer has no H.264 with packetization-mode=1 (the browser must support H.264)";
            return false;
        }

        var stream = H264ProfileLevel.TryParse(streamProfileLevelId, out var parsed) ? parsed : (H264ProfileLevel?)null;
        SdpCodec? pick = null;
        if (stream is { } s)
        {
            pick = h264.Find(c => H264ProfileLevel.TryParse(c.Parameter("profile-level-id"), out var p) && p.Profile == s.Profile);
        }

        pick ??= h264.Find(c => string.Equals(c.Parameter("profile-level-id"), FallbackProfileLevelId, StringComparison.OrdinalIgnoreCase));
        pick ??= h264.Find(c => H264ProfileLevel.TryParse(c.Parameter("profile-level-id"), out var p) && p.Profile == H264Profile.ConstrainedBaseline);
        pick ??= h264[0];
        var profileLevelId = pick.Parameter("profile-level-id") ?? FallbackProfileLevelId;
        var fmtp = $"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profileLevelId.ToLowerInvariant()}";
        var audio = offer.Media.FirstOrDefault(m => m.Kind == "audio" && m.Port != 0);
        var audioPt = -1;
        if (audio is not null)
        {
            var opus = audio.Codecs.FirstOrDefault(c => c.Name.Equals("opus", StringComparison.OrdinalIgnoreCase));
            var pcmu = audio.Codecs.FirstOrDefault(c => c.Name.Equals("PCMU", StringComparison.OrdinalIgnoreCase) || (c.PayloadType == 0 && c.Name.Length == 0));
            audioPt = (opus ?? pcmu ?? (audio.Codecs.Count > 0 ? audio.Codecs[0] : null))?.PayloadType ?? -1;
        }

        choice = new SdpChoice(video.Mid!, pick.PayloadType, fmtp, audioPt >= 0 ? audio!.Mid : null, audioPt);
        error = null;
        return true;
    }

    /// <summary>Writes the answer for <paramref name="offer"/> with <paramref name="choice"/>.</summary>
    public static string Write(SdpOffer offer, SdpChoice choice, SdpAnswerOptions options)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(options);
        var sdp = new StringBuilder(2048);
        Line(sdp, "v=0");
        Line(sdp, $"o=osprey {options.SessionId} 2 IN IP4 0.0.0.0");
        Line(sdp, "s=-");
        Line(sdp, "t=0 0");
        Line(sdp, "a=ice-lite");
        Line(sdp, $"a=group:BUNDLE {string.Join(' ', offer.Media.Where(m => m.Port != 0 && m.Mid is not null && IsAnswered(m, choice)).Select(m => m.Mid))}");
        Line(sdp, "a=msid-semantic: WMS osprey");
        var first = true;
        foreach (var media in offer.Media)
        {
            if (media.Port == 0 || !IsAnswered(media, choice))
            {
                // Rejected: the same kind and protocol with port 0, the first format echoed (RFC 8829 §5.3.1).
                Line(sdp, $"m={media.Kind} 0 {media.Protocol} {(media.PayloadTypes.Count > 0 ? media.PayloadTypes[0].ToString(CultureInfo.InvariantCulture) : "0")}");
                Line(sdp, "c=IN IP4 0.0.0.0");
                if (media.Mid is not null)
                {
                    Line(sdp, $"a=mid:{media.Mid}");
                }

                Line(sdp, "a=inactive");
                continue;
            }

            var isVideo = media.Mid == choice.VideoMid;
            var pt = isVideo ? choice.VideoPayloadType : choice.AudioPayloadType;
            Line(sdp, $"m={media.Kind} 9 {media.Protocol} {pt}");
            Line(sdp, "c=IN IP4 0.0.0.0");
            Line(sdp, "a=rtcp:9 IN IP4 0.0.0.0");
            Line(sdp, $"a=ice-ufrag:{options.IceUfrag}");
            Line(sdp, $"a=ice-pwd:{options.IcePwd}");
            Line(sdp, $"a=fingerprint:sha-256 {options.Fingerprint}");
            Line(sdp, "a=setup:passive");
            Line(sdp, $"a=mid:{media.Mid}");
            Line(sdp, media.Direction == "recvonly" || media.Direction == "sendrecv" ? "a=sendonly" : "a=inactive");
            Line(sdp, "a=rtcp-mux");
            if (media.RtcpReducedSize)
            {
                Line(sdp, "a=rtcp-rsize");
            }

            var ssrc = isVideo ? options.VideoSsrc : options.AudioSsrc;
            var track = isVideo ? "video" : "audio";
            Line(sdp, $"a=msid:osprey {track}");
            if (isVideo)
            {
                Line(sdp, $"a=rtpmap:{pt} H264/90000");
                Line(sdp, $"a=rtcp-fb:{pt} nack");
                Line(sdp, $"a=rtcp-fb:{pt} nack pli");
                Line(sdp, $"a=rtcp-fb:{pt} ccm fir");
                Line(sdp, $"a=fmtp:{pt} {choice.VideoFmtp}");
            }
            else
            {
                var codec = media.Codec(pt);
                var name = codec is null || codec.Name.Length == 0 ? "PCMU" : codec.Name;
                var rate = codec is null || codec.ClockRate == 0 ? 8000 : codec.ClockRate;
                Line(sdp, codec is { Channels: > 1 } ? $"a=rtpmap:{pt} {name}/{rate}/{codec.Channels}" : $"a=rtpmap:{pt} {name}/{rate}");
                if (codec is { Fmtp.Length: > 0 })
                {
                    Line(sdp, $"a=fmtp:{pt} {codec.Fmtp}");
                }
            }

            Line(sdp, $"a=ssrc:{ssrc} cname:{options.Cname}");
            Line(sdp, $"a=ssrc:{ssrc} msid:osprey {track}");
            if (first)
            {
                // Bundled: the candidates of the first section serve all of them.
                var foundation = 1;
                foreach (var candidate in options.Candidates)
                {
                    // Priority of a host candidate: type preference 126, local preference by order, component 1.
                    var priority = (126L << 24) | ((65535L - foundation) << 8) | 255;
                    Line(sdp, $"a=candidate:{foundation} 1 udp {priority} {candidate.Address} {candidate.Port} typ host");
                    foundation++;
                }

                Line(sdp, "a=end-of-candidates");
                first = false;
            }
        }

        return sdp.ToString();
    }

    private static bool IsAnswered(SdpMedia media, SdpChoice choice) =>
        media.Mid is not null && (media.Mid == choice.VideoMid || media.Mid == choice.AudioMid);

    private static void Line(StringBuilder sdp, string line) => sdp.Append(line).Append("\r\n");
}

/// <summary>H.264 profiles as RFC 6184 §8.1 groups them by profile_idc and constraint flags.</summary>
public enum H264Profile
{
    /// <summary>Not one of the below.</summary>
    Other,

    /// <summary>Constrained Baseline: baseline with constraint_set1 (or main with set0).</summary>
    ConstrainedBaseline,

    /// <summary>Baseline.</summary>
    Baseline,

    /// <summary>Main.</summary>
    Main,

    /// <summary>Extended.</summary>
    Extended,

    /// <summary>High.</summary>
    High,

    /// <summary>Constrained High: high with constraint_set4 and set5.</summary>
    ConstrainedHigh,
}

/// <summary>A profile-level-id: profile_idc, the constraint byte and level_idc, and the profile they mean.</summary>
/// <param name="ProfileIdc">profile_idc.</param>
/// <param name="Constraints">The constraint_set flags byte.</param>
/// <param name="LevelIdc">level_idc.</param>
public readonly record struct H264ProfileLevel(byte ProfileIdc, byte Constraints, byte LevelIdc)
{
    /// <summary>The profile these mean.</summary>
    public H264Profile Profile
    {
        get
        {
            bool set0 = (Constraints & 0x80) != 0, set1 = (Constraints & 0x40) != 0, set3 = (Constraints & 0x10) != 0, set4 = (Constraints & 0x08) != 0, set5 = (Constraints & 0x04) != 0;
            _ = set3;
            return ProfileIdc switch
            {
                66 => set1 ? H264Profile.ConstrainedBaseline : H264Profile.Baseline,
                77 => set0 ? H264Profile.ConstrainedBaseline : H264Profile.Main,
                88 => set0 && set1 ? H264Profile.ConstrainedBaseline : set1 ? H264Profile.Main : H264Profile.Extended,
                100 => set4 && set5 ? H264Profile.ConstrainedHigh : H264Profile.High,
                _ => H264Profile.Other,
            };
        }
    }

    /// <summary>The six hex digits.</summary>
    public override string ToString() => $"{ProfileIdc:x2}{Constraints:x2}{LevelIdc:x2}";

    /// <summary>Reads six hex digits; false for anything else.</summary>
    public static bool TryParse(string? text, out H264ProfileLevel value)
    {
        value = default;
        if (text is null || text.Length != 6 || !uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bits))
        {
            return false;
        }

        value = new H264ProfileLevel((byte)(bits >> 16), (byte)(bits >> 8), (byte)bits);
        return true;
    }
}
