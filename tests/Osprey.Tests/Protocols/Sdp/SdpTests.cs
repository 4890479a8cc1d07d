using Osprey.Protocols.Sdp;

namespace Osprey.Tests.Protocols.Sdp;

public class SdpTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Protocols", "Sdp", "Fixtures", name));

    private static SdpAnswerOptions Options(string? profile = null) => new()
    {
        IceUfrag = "srvufrag",
        IcePwd = "0123456789abcdefghijkl",
        Fingerprint = "AA:BB",
        Candidates = [new SdpCandidate("127.0.0.1", 8189)],
        VideoSsrc = 1111,
        AudioSsrc = 2222,
        StreamProfileLevelId = profile,
        SessionId = 42,
    };

    [Fact]
    public void ChromiumOffer_IsParsed()
    {
        Assert.True(SdpOffer.TryParse(Fixture("chromium-156-recvonly.sdp"), out var offer, out var error), error);
        Assert.Equal(["video", "audio"], offer!.Media.Select(m => m.Kind));
        var video = offer.Media[0];
        Assert.Equal("0", video.Mid);
        Assert.Equal("recvonly", video.Direction);
        Assert.Equal("gBWq", video.IceUfrag);
        Assert.StartsWith("sha-256 39:CC", video.Fingerprint, StringComparison.Ordinal);
        Assert.True(video.RtcpMux);
        Assert.Equal("42e01f", video.Codec(108)!.Parameter("profile-level-id"));
        Assert.Contains("nack pli", video.Codec(108)!.Feedback);
    }

    [Theory]
    [InlineData(null, 108, "42e01f")] // no SPS yet: the fallback
    [InlineData("42c01e", 108, "42e01f")] // x264's constrained baseline matches Chrome's constrained baseline PT
    [InlineData("42001f", 102, "42001f")] // baseline
    [InlineData("4d0028", 116, "4d001f")] // main
    [InlineData("640028", 108, "42e01f")] // Debian's chromium offers no High profile: the fallback (MediaMTX answers it for High too)
    public void ChromiumOffer_IsAnsweredWithTheMatchingProfileInMode1(string? stream, int expectedPt, string expectedProfile)
    {
        Assert.True(SdpOffer.TryParse(Fixture("chromium-156-recvonly.sdp"), out var offer, out _));
        Assert.True(SdpAnswer.TryChoose(offer!, stream, out var choice, out var error), error);
        Assert.Equal(expectedPt, choice.VideoPayloadType);
        Assert.Contains($"profile-level-id={expectedProfile}", choice.VideoFmtp, StringComparison.Ordinal);
        Assert.Contains("packetization-mode=1", choice.VideoFmtp, StringComparison.Ordinal);
        Assert.Equal(111, choice.AudioPayloadType); // opus
    }

    [Fact]
    public void Answer_IsIceLitePassiveBundledWithAllCandidatesAndAnAudioSection()
    {
        Assert.True(SdpOffer.TryParse(Fixture("chromium-156-recvonly.sdp"), out var offer, out _));
        Assert.True(SdpAnswer.TryChoose(offer!, "42c01e", out var choice, out _));
        var answer = SdpAnswer.Write(offer!, choice, Options("42c01e"));
        var lines = answer.Split("\r\n");

        Assert.Contains("a=ice-lite", lines);
        Assert.Contains("a=group:BUNDLE 0 1", lines);
        Assert.Contains("m=video 9 UDP/TLS/RTP/SAVPF 108", lines);
        Assert.Contains("m=audio 9 UDP/TLS/RTP/SAVPF 111", lines);
        Assert.Equal(2, lines.Count(l => l == "a=setup:passive"));
        Assert.Equal(2, lines.Count(l => l == "a=sendonly"));
        Assert.Contains("a=fingerprint:sha-256 AA:BB", lines);
        Assert.Contains("a=rtcp-fb:108 nack", lines);
        Assert.Contains("a=rtcp-fb:108 nack pli", lines);
        Assert.Contains("a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", lines);
        Assert.Contains(lines, l => l.StartsWith("a=candidate:1 1 udp ", StringComparison.Ordinal) && l.EndsWith(" 127.0.0.1 8189 typ host", StringComparison.Ordinal));
        Assert.Contains("a=end-of-candidates", lines);
        Assert.Contains("a=ssrc:1111 cname:osprey", lines);

        // The answer reads back as SDP (its own parser finds both sections, credentials and fingerprint).
        Assert.True(SdpOffer.TryParse(answer, out var reread, out var error), error);
        Assert.Equal("srvufrag", reread!.Media[1].IceUfrag);
    }

    [Fact]
    public void FirefoxEsrOffer_WithoutH264_IsRefusedWithAClearReason()
    {
        // Debian's firefox-esr offers H.264 only with Cisco's OpenH264 plug-in, which it downloads itself.
        Assert.True(SdpOffer.TryParse(Fixture("firefox-esr-153-recvonly.sdp"), out var offer, out var error), error);
        Assert.Equal("2dad2261", offer!.Media[0].IceUfrag);
        Assert.StartsWith("sha-256 AC:E5", offer.Media[0].Fingerprint, StringComparison.Ordinal); // from the session level
        Assert.False(SdpAnswer.TryChoose(offer, null, out _, out error));
        Assert.Contains("H.264", error, StringComparison.Ordinal);
    }

    [Fact]
    public void FirefoxStyleOffer_WithH264_IsAnsweredWithItsPayloadType()
    {
        var text = Fixture("firefox-esr-153-recvonly.sdp")
            .Replace("m=video 9 UDP/TLS/RTP/SAVPF 120", "m=video 9 UDP/TLS/RTP/SAVPF 126 120", StringComparison.Ordinal)
            .Replace("a=rtpmap:120 VP8/90000", "a=rtpmap:126 H264/90000\r\na=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\na=rtpmap:120 VP8/90000", StringComparison.Ordinal);
        Assert.True(SdpOffer.TryParse(text, out var offer, out _));
        Assert.True(SdpAnswer.TryChoose(offer!, "42c01f", out var choice, out var error), error);
        Assert.Equal(126, choice.VideoPayloadType);
        Assert.Equal(109, choice.AudioPayloadType);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("hello", "v=0")]
    [InlineData("v=0\r\ns=-\r\n", "no media")]
    [InlineData("v=0\r\nm=video\r\n", "malformed media line")]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n", "ICE credentials")]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\n", "fingerprint")]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:a\r\n", "mid")]
    public void BrokenOffers_AreRefusedWithAReason(string text, string reason)
    {
        Assert.False(SdpOffer.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void OversizedOffers_AreRefused()
    {
        Assert.False(SdpOffer.TryParse("v=0\r\n" + new string('a', SdpOffer.MaxLength), out _, out var error));
        Assert.Contains("longer", error, StringComparison.Ordinal);
        var many = "v=0\r\n" + string.Concat(Enumerable.Repeat("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x\r\n", SdpOffer.MaxMedia + 1));
        Assert.False(SdpOffer.TryParse(many, out _, out error));
        Assert.Contains("media sections", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedAndCorruptedOffers_NeverThrow()
    {
        var text = Fixture("chromium-156-recvonly.sdp");
        for (var cut = 0; cut < text.Length; cut += 7)
        {
            if (SdpOffer.TryParse(text[..cut], out var offer, out _))
            {
                _ = SdpAnswer.TryChoose(offer!, "42c01e", out _, out _);
            }
        }

        var random = new Random(8866);
        var chars = text.ToCharArray();
        for (var i = 0; i < 300; i++)
        {
            var damaged = (char[])chars.Clone();
            for (var k = 0; k < 20; k++)
            {
                damaged[random.Next(damaged.Length)] = " :=/;\r\n0a9"[random.Next(10)];
            }

            if (SdpOffer.TryParse(new string(damaged), out var offer, out _) && SdpAnswer.TryChoose(offer!, null, out var choice, out _))
            {
                _ = SdpAnswer.Write(offer!, choice, Options());
            }
        }
    }

    [Theory]
    [InlineData("42e01f", H264Profile.ConstrainedBaseline)]
    [InlineData("42c01e", H264Profile.ConstrainedBaseline)]
    [InlineData("42001f", H264Profile.Baseline)]
    [InlineData("4d001f", H264Profile.Main)]
    [InlineData("4d401f", H264Profile.Main)]
    [InlineData("4d801f", H264Profile.ConstrainedBaseline)]
    [InlineData("640c1f", H264Profile.ConstrainedHigh)]
    [InlineData("640032", H264Profile.High)]
    public void ProfileLevelIds_MapToRfc6184Profiles(string text, H264Profile profile)
    {
        Assert.True(H264ProfileLevel.TryParse(text, out var value));
        Assert.Equal(profile, value.Profile);
        Assert.Equal(text, value.ToString());
    }
}
