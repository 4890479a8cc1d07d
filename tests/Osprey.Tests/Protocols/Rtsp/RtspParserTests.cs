using System.Text;
using Osprey.Protocols.Rtsp;

namespace Osprey.Tests.Protocols.Rtsp;

public class RtspParserTests
{
    private static RtspParseResult Parse(string text) => RtspRequestParser.Parse(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void AWholeRequest_IsRead_WithItsMethodUriCSeqAndHeaders()
    {
        var text = "DESCRIBE rtsp://127.0.0.1:8554/cam RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nUser-Agent: Lavf59\r\n\r\nOPTIONS";
        var result = Parse(text);
        Assert.Equal(RtspParseStatus.Request, result.Status);
        Assert.Equal(text.Length - "OPTIONS".Length, result.Consumed);
        Assert.Equal("DESCRIBE", result.Request!.Method);
        Assert.Equal("2", result.Request.CSeq);
        Assert.Equal("application/sdp", result.Request["accept"]);
        Assert.Equal("cam", result.Request.FeedPath(out var control));
        Assert.Null(control);
    }

    [Fact]
    public void ATrackUrl_NamesTheFeedAndTheControl()
    {
        var result = Parse("SETUP rtsp://host/a/b/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n\r\n");
        Assert.Equal("a/b", result.Request!.FeedPath(out var control));
        Assert.Equal("trackID=0", control);
    }

    [Theory]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/1.0\r\nCSeq: 2\r\n")]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/1.0\r\nCSeq: 2")]
    [InlineData("DESC")]
    [InlineData("$\u0000\u0001")]
    [InlineData("")]
    public void ATruncatedRequestOrFrame_NeedsMore(string text) => Assert.Equal(RtspParseStatus.NeedMore, Parse(text).Status);

    [Fact]
    public void ABodyNotYetWhole_NeedsMore_AndWholeIsRead()
    {
        const string head = "SET_PARAMETER rtsp://h/cam RTSP/1.0\r\nCSeq: 5\r\nContent-Length: 10\r\n\r\n";
        Assert.Equal(RtspParseStatus.NeedMore, Parse(head + "12345").Status);
        var whole = Parse(head + "1234567890");
        Assert.Equal(RtspParseStatus.Request, whole.Status);
        Assert.Equal("1234567890", Encoding.ASCII.GetString(whole.Request!.Body));
    }

    [Fact]
    public void AnInterleavedFrame_IsSkippedWhole()
    {
        var bytes = new byte[] { (byte)'$', 1, 0, 3, 9, 9, 9, (byte)'O' };
        var result = RtspRequestParser.Parse(bytes);
        Assert.Equal(RtspParseStatus.Interleaved, result.Status);
        Assert.Equal(1, result.Channel);
        Assert.Equal(7, result.Consumed);
    }

    [Theory]
    [InlineData("\u0001\u0002GARBAGE\r\n\r\n", 400)]
    [InlineData("DESCRIBE rtsp://h/cam\r\nCSeq: 1\r\n\r\n", 400)]
    [InlineData("DESCRIBE rtsp://h/cam HTTP/1.1\r\nCSeq: 1\r\n\r\n", 400)]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505)]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/1.0\r\nno colon here\r\n\r\n", 400)]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/1.0\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("DESCRIBE rtsp://h/cam RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n", 413)]
    [InlineData("DE(SCRIBE rtsp://h/cam RTSP/1.0\r\n\r\n", 400)]
    public void ACorruptedRequest_IsAnError_WithItsStatus(string text, int status)
    {
        var result = Parse(text);
        Assert.Equal(RtspParseStatus.Error, result.Status);
        Assert.Equal(status, result.ErrorStatus);
        Assert.False(string.IsNullOrEmpty(result.ErrorReason));
    }

    [Fact]
    public void AHeadLongerThan8KiB_Is431_EvenBeforeItsEnd()
    {
        var unfinished = "OPTIONS * RTSP/1.0\r\nX-Pad: " + new string('a', RtspRequestParser.MaxHeadBytes);
        Assert.Equal(431, Parse(unfinished).ErrorStatus);
        Assert.Equal(431, Parse(unfinished + "\r\n\r\n").ErrorStatus);
    }

    [Fact]
    public void MoreThan64Headers_Is431()
    {
        var many = "OPTIONS * RTSP/1.0\r\n" + string.Concat(Enumerable.Range(0, RtspRequestParser.MaxHeaders + 1).Select(i => $"X-{i}: v\r\n")) + "\r\n";
        Assert.Equal(431, Parse(many).ErrorStatus);
        var enough = "OPTIONS * RTSP/1.0\r\n" + string.Concat(Enumerable.Range(0, RtspRequestParser.MaxHeaders).Select(i => $"X-{i}: v\r\n")) + "\r\n";
        Assert.Equal(RtspParseStatus.Request, Parse(enough).Status);
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(17);
        var buffer = new byte[600];
        for (var i = 0; i < 2000; i++)
        {
            random.NextBytes(buffer);
            var length = random.Next(buffer.Length);
            var result = RtspRequestParser.Parse(buffer.AsSpan(0, length));
            Assert.InRange(result.Consumed, 0, length);
        }
    }

    [Theory]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=0-1", true, 0, 0)]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=4-5", true, 4, 0)]
    [InlineData("RTP/AVP;unicast;client_port=5000-5001", false, 0, 5000)]
    [InlineData("RTP/AVP;multicast,RTP/AVP;unicast;client_port=6000-6001", false, 0, 6000)]
    public void ATransport_IsRead(string header, bool interleaved, int channel, int clientPort)
    {
        Assert.True(RtspTransport.TryParse(header, out var transport, out _));
        Assert.Equal(interleaved, transport.Interleaved);
        Assert.Equal(channel, transport.RtpChannel);
        Assert.Equal(clientPort, transport.ClientRtpPort);
    }

    [Theory]
    [InlineData("RTP/AVP;multicast")]
    [InlineData("RTP/SAVP;unicast;client_port=1-2")]
    [InlineData("RTP/AVP;unicast")]
    [InlineData("RTP/AVP;unicast;client_port=99999-100000")]
    [InlineData("")]
    public void AnUnservableTransport_IsRefused(string header) => Assert.False(RtspTransport.TryParse(header, out _, out var error) || error is null);

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "RTSP Digest is MD5.")]
    public void ADigestResponse_IsCheckedAgainstTheUsersHa1AndTheNonce()
    {
        // RFC 2069 style (no qop), as ffmpeg sends it.
        var ha1 = RtspAuthorization.Ha1("alice", "Osprey", "secret");
        static string Md5(string s) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes(s)));
        var response = Md5($"{ha1}:abc:{Md5("DESCRIBE:rtsp://h/cam")}");
        var header = $"Digest username=\"alice\", realm=\"Osprey\", nonce=\"abc\", uri=\"rtsp://h/cam\", response=\"{response}\"";
        var authorization = RtspAuthorization.Parse(header)!;
        Assert.True(authorization.VerifyDigest("DESCRIBE", ha1, "abc"));
        Assert.False(authorization.VerifyDigest("DESCRIBE", ha1, "other-nonce"));
        Assert.False(authorization.VerifyDigest("SETUP", ha1, "abc"));
        Assert.False(authorization.VerifyDigest("DESCRIBE", RtspAuthorization.Ha1("alice", "Osprey", "wrong"), "abc"));
    }

    [Theory]
    [InlineData("Basic !!!")]
    [InlineData("Digest username=\"a\"")]
    [InlineData("Digest username=\"a, nonce=\"x")]
    [InlineData("Bearer x")]
    public void AMalformedAuthorization_IsNull(string header) => Assert.Null(RtspAuthorization.Parse(header));

    [Fact]
    public void TheSdp_CarriesTheParameterSetsAndTheTrackControl()
    {
        byte[] sps = [0x67, 0x42, 0xc0, 0x1e, 0x95];
        byte[] pps = [0x68, 0xce, 0x3c, 0x80];
        var sdp = RtspSdp.Write("cam", sps, pps, "1", "127.0.0.1");
        Assert.Contains("m=video 0 RTP/AVP 96\r\n", sdp, StringComparison.Ordinal);
        Assert.Contains("a=rtpmap:96 H264/90000\r\n", sdp, StringComparison.Ordinal);
        Assert.Contains($"a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets={Convert.ToBase64String(sps)},{Convert.ToBase64String(pps)}\r\n", sdp, StringComparison.Ordinal);
        Assert.Contains("a=control:trackID=0\r\n", sdp, StringComparison.Ordinal);
    }
}
