using Osprey.Protocols.Srtp;

namespace Osprey.Tests.Protocols.Srtp;

public class SrtpContextTests
{
    // RFC 3711 Appendix B.3 and libsrtp's srtp_driver reference packets.
    private static readonly byte[] s_masterKey = Convert.FromHexString("E1F97A0D3E018BE0D64FA32C06DE4139");
    private static readonly byte[] s_masterSalt = Convert.FromHexString("0EC675AD498AFEEBB6960B3AABE6");

    [Fact]
    public void KeyDerivation_MatchesRfc3711AppendixB3()
    {
        var key = new byte[16];
        var salt = new byte[14];
        var auth = new byte[94];
        SrtpKeyDerivation.Derive(s_masterKey, s_masterSalt, SrtpKeyDerivation.RtpEncryption, key);
        SrtpKeyDerivation.Derive(s_masterKey, s_masterSalt, SrtpKeyDerivation.RtpSalt, salt);
        SrtpKeyDerivation.Derive(s_masterKey, s_masterSalt, SrtpKeyDerivation.RtpAuthentication, auth);
        Assert.Equal("C61E7A93744F39EE10734AFE3FF7A087", Convert.ToHexString(key));
        Assert.Equal("30CBBC08863D8C85D49DB34A9AE1", Convert.ToHexString(salt));
        Assert.Equal(
            "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCEE049646C43D9327AD175578EF7227098" +
            "6371C10C9A369AC2F94A8C5FBCDDDC256D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2",
            Convert.ToHexString(auth));
    }

    [Fact]
    public void AesCmRtp_MatchesLibsrtpReferencePacket_AndRoundTrips()
    {
        using var sender = new SrtpContext(SrtpProfile.AesCm128HmacSha1_80, s_masterKey, s_masterSalt);
        using var receiver = new SrtpContext(SrtpProfile.AesCm128HmacSha1_80, s_masterKey, s_masterSalt);
        var plain = Convert.FromHexString("800F1234DECAFBADCAFEBABEABABABABABABABABABABABABABABABAB");
        var output = new byte[plain.Length + SrtpContext.MaxRtpOverhead];
        var length = sender.ProtectRtp(plain, output);
        Assert.Equal("800F1234DECAFBADCAFEBABE4E55DC4CE79978D88CA4D215949D2402B78D6ACC99EA179B8DBB", Convert.ToHexString(output, 0, length));

        var back = new byte[length];
        Assert.True(receiver.TryUnprotectRtp(output.AsSpan(0, length), back, out var plainLength));
        Assert.Equal(plain, back[..plainLength]);
        Assert.False(receiver.TryUnprotectRtp(output.AsSpan(0, length), back, out _)); // a replay
        Assert.Equal(1, receiver.Refused);
    }

    [Fact]
    public void AesCmRtcp_MatchesLibsrtpReferencePacket_AndRoundTrips()
    {
        using var sender = new SrtpContext(SrtpProfile.AesCm128HmacSha1_80, s_masterKey, s_masterSalt);
        using var receiver = new SrtpContext(SrtpProfile.AesCm128HmacSha1_80, s_masterKey, s_masterSalt);
        var plain = Convert.FromHexString("81C8000BCAFEBABEABABABABABABABABABABABABABABABAB");
        var output = new byte[plain.Length + SrtpContext.MaxRtcpOverhead];
        var length = sender.ProtectRtcp(plain, output, 0xCAFEBABE, 1);
        Assert.Equal("81C8000BCAFEBABE7128035BE487B9BDBEF89041F977A5A880000001993E08CD54D6C1230798", Convert.ToHexString(output, 0, length));

        var back = new byte[length];
        Assert.True(receiver.TryUnprotectRtcp(output.AsSpan(0, length), back, out var plainLength));
        Assert.Equal(plain, back[..plainLength]);
        Assert.False(receiver.TryUnprotectRtcp(output.AsSpan(0, length), back, out _)); // the replay window
    }

    // RFC 7714 §16.1.1 and §17.1: the AEAD key and salt stated directly.
    private static readonly byte[] s_gcmKey = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");
    private static readonly byte[] s_gcmSalt = Convert.FromHexString("517569642070726f2071756f");

    [Fact]
    public void GcmRtp_MatchesRfc7714Section16_1()
    {
        using var sender = SrtpContext.FromGcmSessionKeys(s_gcmKey, s_gcmSalt);
        using var receiver = SrtpContext.FromGcmSessionKeys(s_gcmKey, s_gcmSalt);
        var plain = Convert.FromHexString("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
        var output = new byte[plain.Length + SrtpContext.MaxRtpOverhead];
        var length = sender.ProtectRtp(plain, output);
        Assert.Equal(
            "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
            Convert.ToHexString(output, 0, length).ToLowerInvariant());
        var back = new byte[length];
        Assert.True(receiver.TryUnprotectRtp(output.AsSpan(0, length), back, out var plainLength));
        Assert.Equal(plain, back[..plainLength]);
    }

    [Fact]
    public void GcmRtcp_MatchesRfc7714Section17_1()
    {
        using var sender = SrtpContext.FromGcmSessionKeys(s_gcmKey, s_gcmSalt);
        using var receiver = SrtpContext.FromGcmSessionKeys(s_gcmKey, s_gcmSalt);
        var plain = Convert.FromHexString("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
        var output = new byte[plain.Length + SrtpContext.MaxRtcpOverhead];
        var length = sender.ProtectRtcp(plain, output, 0x4d617273, 0x5d4);
        Assert.Equal(
            "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4",
            Convert.ToHexString(output, 0, length).ToLowerInvariant());
        var back = new byte[length];
        Assert.True(receiver.TryUnprotectRtcp(output.AsSpan(0, length), back, out var plainLength));
        Assert.Equal(plain, back[..plainLength]);
    }

    [Theory]
    [InlineData(SrtpProfile.AesCm128HmacSha1_80)]
    [InlineData(SrtpProfile.AeadAes128Gcm)]
    public void RolloverCounter_FollowsSequenceWraps_OnBothSides(SrtpProfile profile)
    {
        var salt = new byte[SrtpContext.MasterSaltLength(profile)];
        Random.Shared.NextBytes(salt);
        using var sender = new SrtpContext(profile, s_masterKey, salt);
        using var receiver = new SrtpContext(profile, s_masterKey, salt);
        var packet = new byte[12 + 100];
        packet[0] = 0x80;
        packet[1] = 96;
        var output = new byte[packet.Length + SrtpContext.MaxRtpOverhead];
        var back = new byte[output.Length];
        var sequence = (ushort)65500;
        for (var i = 0; i < 200; i++, sequence++)
        {
            packet[2] = (byte)(sequence >> 8);
            packet[3] = (byte)sequence;
            packet[12] = (byte)i;
            var length = sender.ProtectRtp(packet, output);
            Assert.True(receiver.TryUnprotectRtp(output.AsSpan(0, length), back, out var plain), $"packet {i} (sequence {sequence})");
            Assert.Equal(packet, back[..plain]);
        }

        // An old packet from before the wrap, retransmitted, keeps its old rollover counter (0): a receiver that
        // has seen nothing else authenticates it only with that one.
        packet[2] = 0xFF;
        packet[3] = 0xF0;
        var retransmitted = sender.ProtectRtp(packet, output);
        using var fresh = new SrtpContext(profile, s_masterKey, salt);
        Assert.True(fresh.TryUnprotectRtp(output.AsSpan(0, retransmitted), back, out _));
    }

    [Theory]
    [InlineData(SrtpProfile.AesCm128HmacSha1_80)]
    [InlineData(SrtpProfile.AeadAes128Gcm)]
    public void DamagedTruncatedOrOversizedPackets_AreRefusedAndCounted(SrtpProfile profile)
    {
        var salt = new byte[SrtpContext.MasterSaltLength(profile)];
        using var sender = new SrtpContext(profile, s_masterKey, salt);
        using var receiver = new SrtpContext(profile, s_masterKey, salt);
        var packet = new byte[12 + 50];
        packet[0] = 0x80;
        var output = new byte[packet.Length + SrtpContext.MaxRtpOverhead];
        var length = sender.ProtectRtp(packet, output);
        var back = new byte[output.Length];
        for (var bit = 0; bit < length * 8; bit += 7)
        {
            var damaged = output.AsSpan(0, length).ToArray();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(receiver.TryUnprotectRtp(damaged, back, out _), $"bit {bit}");
        }

        for (var cut = 0; cut < length; cut++)
        {
            Assert.False(receiver.TryUnprotectRtp(output.AsSpan(0, cut), back, out _));
            Assert.False(receiver.TryUnprotectRtcp(output.AsSpan(0, cut), back, out _));
        }

        Assert.Equal(-1, sender.ProtectRtp(new byte[5000], new byte[6000]));
        Assert.True(receiver.Refused > length);
        Assert.True(receiver.TryUnprotectRtp(output.AsSpan(0, length), back, out _)); // the undamaged one still passes
    }

    [Fact]
    public void ProtectingAllocatesNothing()
    {
        using var gcm = new SrtpContext(SrtpProfile.AeadAes128Gcm, s_masterKey, new byte[12]);
        using var cm = new SrtpContext(SrtpProfile.AesCm128HmacSha1_80, s_masterKey, new byte[14]);
        var packet = new byte[1200];
        packet[0] = 0x80;
        var output = new byte[1300];
        for (var i = 0; i < 100; i++)
        {
            packet[3] = (byte)i;
            gcm.ProtectRtp(packet, output);
            cm.ProtectRtp(packet, output);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            packet[2] = (byte)(i >> 8);
            packet[3] = (byte)i;
            gcm.ProtectRtp(packet, output);
            cm.ProtectRtp(packet, output);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
