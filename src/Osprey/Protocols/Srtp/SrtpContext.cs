using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Osprey.Protocols.Srtp;

/// <summary>The SRTP protection profiles Osprey speaks (the use_srtp ids of RFC 5764 and RFC 7714).</summary>
public enum SrtpProfile
{
    /// <summary>SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711's default, mandatory in WebRTC).</summary>
    AesCm128HmacSha1_80 = 0x0001,

    /// <summary>SRTP_AEAD_AES_128_GCM (RFC 7714): cheaper, picked when the browser offers it.</summary>
    AeadAes128Gcm = 0x0007,
}

/// <summary>
/// One direction of an SRTP session (RFC 3711, RFC 7714): the session keys derived from a DTLS-SRTP master key
/// and salt, and the state that goes with them: per SSRC the rollover counter of RTP and the SRTCP index when
/// sending, and when receiving the highest index seen with a 64-packet replay window. Spans in and out: the
/// protected packet is written to a buffer the caller owns, nothing is allocated per packet.
/// </summary>
/// <remarks>
/// <para>AES_CM_128_HMAC_SHA1_80: the payload XOR an AES counter-mode keystream whose IV is
/// <c>salt·2^16 ⊕ SSRC·2^64 ⊕ index·2^16</c>; then an 80-bit HMAC-SHA1 over the packet and the ROC (SRTP) or
/// the packet, E flag and index (SRTCP). AEAD_AES_128_GCM: AES-GCM with a 12-byte IV
/// <c>(00 00 ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt</c>, the header as associated data, a 16-byte tag.</para>
/// <para>Not thread-safe: one sender (a viewer's send loop) or one receiver (the UDP receive loop) per context.
/// The few SSRCs a WebRTC session has (video, audio, the browser's RTCP sender) are kept in a small table; past
/// <see cref="MaxSsrcs"/> packets of a new SSRC are refused.</para>
/// </remarks>
public sealed class SrtpContext : IDisposable
{
    /// <summary>The most SSRCs one context tracks.</summary>
    public const int MaxSsrcs = 8;

    /// <summary>The most bytes protecting adds to an RTP packet (GCM's 16-byte tag).</summary>
    public const int MaxRtpOverhead = 16;

    /// <summary>The most bytes protecting adds to an RTCP packet (tag plus the 4-byte E ‖ index).</summary>
    public const int MaxRtcpOverhead = 20;

    private const int HmacTagLength = 10;
    private const int GcmTagLength = 16;
    private const int MaxPacket = 2048;

    private readonly SrtpProfile _profile;
    private readonly Aes? _rtpAes;
    private readonly Aes? _rtcpAes;
    private readonly ICryptoTransform? _rtpEcb;
    private readonly ICryptoTransform? _rtcpEcb;
    private readonly AesGcm? _rtpGcm;
    private readonly AesGcm? _rtcpGcm;
    private readonly IncrementalHash? _rtpHmac;
    private readonly IncrementalHash? _rtcpHmac;
    private readonly byte[] _rtpSalt;
    private readonly byte[] _rtcpSalt;
    private readonly SsrcState[] _states = new SsrcState[MaxSsrcs];
    private int _stateCount;
    private readonly byte[] _counters = new byte[MaxPacket + 16];
    private readonly byte[] _keystream = new byte[MaxPacket + 16];
    private readonly byte[] _mac = new byte[20];

    /// <summary>
    /// Derives the session keys of <paramref name="profile"/> from a master key (16 bytes) and master salt
    /// (14 bytes for AES-CM, 12 for GCM), as DTLS-SRTP exports them (RFC 5764 §4.2).
    /// </summary>
    public SrtpContext(SrtpProfile profile, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt)
    {
        _profile = profile;
        if (masterKey.Length != 16 || masterSalt.Length != MasterSaltLength(profile))
        {
            throw new ArgumentException($"{profile} takes a 16-byte master key and a {MasterSaltLength(profile)}-byte master salt.");
        }

        var saltLength = MasterSaltLength(profile);
        Span<byte> rtpKey = stackalloc byte[16], rtcpKey = stackalloc byte[16], rtpAuth = stackalloc byte[20], rtcpAuth = stackalloc byte[20];
        _rtpSalt = new byte[saltLength];
        _rtcpSalt = new byte[saltLength];
        SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtpEncryption, rtpKey);
        SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtpSalt, _rtpSalt);
        SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtcpEncryption, rtcpKey);
        SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtcpSalt, _rtcpSalt);
        if (profile == SrtpProfile.AeadAes128Gcm)
        {
            _rtpGcm = new AesGcm(rtpKey, GcmTagLength);
            _rtcpGcm = new AesGcm(rtcpKey, GcmTagLength);
        }
        else
        {
            SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtpAuthentication, rtpAuth);
            SrtpKeyDerivation.Derive(masterKey, masterSalt, SrtpKeyDerivation.RtcpAuthentication, rtcpAuth);
            _rtpAes = Aes.Create();
            _rtpAes.Key = rtpKey.ToArray();
            _rtcpAes = Aes.Create();
            _rtcpAes.Key = rtcpKey.ToArray();
            // ECB encryptors made once: TransformBlock on arrays allocates nothing per packet (EncryptEcb does).
            _rtpAes.Mode = CipherMode.ECB;
            _rtpAes.Padding = PaddingMode.None;
            _rtcpAes.Mode = CipherMode.ECB;
            _rtcpAes.Padding = PaddingMode.None;
            _rtpEcb = _rtpAes.CreateEncryptor();
            _rtcpEcb = _rtcpAes.CreateEncryptor();
            _rtpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, rtpAuth);
            _rtcpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, rtcpAuth);
        }

        CryptographicOperations.ZeroMemory(rtpKey);
        CryptographicOperations.ZeroMemory(rtcpKey);
        CryptographicOperations.ZeroMemory(rtpAuth);
        CryptographicOperations.ZeroMemory(rtcpAuth);
    }

    /// <summary>
    /// A context from session keys given directly (RFC 7714's test vectors state the AEAD key and salt, not a
    /// master key); GCM only.
    /// </summary>
    public static SrtpContext FromGcmSessionKeys(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt) => new(key, salt);

    private SrtpContext(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> sessionSalt)
    {
        _profile = SrtpProfile.AeadAes128Gcm;
        _rtpGcm = new AesGcm(sessionKey, GcmTagLength);
        _rtcpGcm = new AesGcm(sessionKey, GcmTagLength);
        _rtpSalt = sessionSalt.ToArray();
        _rtcpSalt = sessionSalt.ToArray();
    }

    /// <summary>The profile.</summary>
    public SrtpProfile Profile => _profile;

    /// <summary>Bytes of master key plus master salt the profile takes from the DTLS exporter, per side.</summary>
    public static int MasterSaltLength(SrtpProfile profile) => profile == SrtpProfile.AeadAes128Gcm ? 12 : 14;

    /// <summary>Bytes protecting adds to an RTP packet.</summary>
    public int RtpOverhead => _profile == SrtpProfile.AeadAes128Gcm ? GcmTagLength : HmacTagLength;

    /// <summary>Bytes protecting adds to an RTCP packet.</summary>
    public int RtcpOverhead => RtpOverhead + 4;

    /// <summary>Packets refused when unprotecting: a bad tag, a replay, a malformed header.</summary>
    public long Refused { get; private set; }

    /// <summary>
    /// Protects the RTP packet <paramref name="packet"/> into <paramref name="destination"/> (at least
    /// <see cref="RtpOverhead"/> bytes longer); returns the length, or -1 for a packet that is not RTP or too long.
    /// The SSRC's rollover counter follows the sequence numbers (a retransmission of an old one keeps its ROC).
    /// </summary>
    public int ProtectRtp(ReadOnlySpan<byte> packet, Span<byte> destination)
    {
        var headerLength = RtpHeaderLength(packet);
        if (headerLength < 0 || packet.Length > MaxPacket || destination.Length < packet.Length + RtpOverhead)
        {
            return -1;
        }

        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
        var sequence = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        ref var state = ref State(ssrc, out var found);
        if (!found)
        {
            return -1;
        }

        uint roc;
        if (!state.SendStarted)
        {
            state.SendStarted = true;
            state.SendSequence = sequence;
            roc = state.SendRoc;
        }
        else
        {
            var delta = (short)(sequence - state.SendSequence);
            if (delta > 0)
            {
                if (sequence < state.SendSequence)
                {
                    state.SendRoc++; // wrapped
                }

                state.SendSequence = sequence;
                roc = state.SendRoc;
            }
            else
            {
                // A retransmission: its index is behind the newest, possibly before the last wrap.
                roc = sequence > state.SendSequence ? state.SendRoc - 1 : state.SendRoc;
            }
        }

        packet[..headerLength].CopyTo(destination);
        var payload = packet[headerLength..];
        var output = destination[headerLength..];
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> iv = stackalloc byte[12];
            RtpGcmIv(iv, ssrc, roc, sequence, _rtpSalt);
            _rtpGcm!.Encrypt(iv, payload, output[..payload.Length], output.Slice(payload.Length, GcmTagLength), packet[..headerLength]);
            return packet.Length + GcmTagLength;
        }

        var index = ((ulong)roc << 16) | sequence;
        Keystream(_rtpEcb!, _rtpSalt, ssrc, index, payload.Length);
        Xor(payload, _keystream, output);
        var length = packet.Length;
        _rtpHmac!.AppendData(destination[..length]);
        Span<byte> rocBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rocBytes, roc);
        _rtpHmac.AppendData(rocBytes);
        _rtpHmac.GetHashAndReset(_mac);
        _mac.AsSpan(0, HmacTagLength).CopyTo(destination[length..]);
        return length + HmacTagLength;
    }

    /// <summary>
    /// Protects the compound RTCP packet <paramref name="packet"/> into <paramref name="destination"/>
    /// (encrypted, E = 1, the next SRTCP index of its SSRC); returns the length or -1.
    /// </summary>
    public int ProtectRtcp(ReadOnlySpan<byte> packet, Span<byte> destination)
    {
        if (packet.Length < 8 || packet.Length > MaxPacket || (packet[0] >> 6) != 2 || destination.Length < packet.Length + RtcpOverhead)
        {
            return -1;
        }

        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        ref var state = ref State(ssrc, out var found);
        if (!found)
        {
            return -1;
        }

        var index = state.RtcpIndex;
        state.RtcpIndex = (index + 1) & 0x7FFFFFFF;
        return ProtectRtcp(packet, destination, ssrc, index);
    }

    /// <summary>Protects an RTCP packet with a given SRTCP index (the RFCs' vectors; <see cref="ProtectRtcp(ReadOnlySpan{byte}, Span{byte})"/> counts).</summary>
    public int ProtectRtcp(ReadOnlySpan<byte> packet, Span<byte> destination, uint ssrc, uint index)
    {
        if (packet.Length < 8 || packet.Length > MaxPacket || destination.Length < packet.Length + RtcpOverhead)
        {
            return -1;
        }

        packet[..8].CopyTo(destination);
        var body = packet[8..];
        var eIndex = 0x80000000u | index;
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> iv = stackalloc byte[12];
            RtcpGcmIv(iv, ssrc, index, _rtcpSalt);
            Span<byte> aad = stackalloc byte[12];
            packet[..8].CopyTo(aad);
            BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
            var output = destination[8..];
            _rtcpGcm!.Encrypt(iv, body, output[..body.Length], output.Slice(body.Length, GcmTagLength), aad);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(packet.Length + GcmTagLength)..], eIndex);
            return packet.Length + GcmTagLength + 4;
        }

        Keystream(_rtcpEcb!, _rtcpSalt, ssrc, index, body.Length);
        Xor(body, _keystream, destination[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[packet.Length..], eIndex);
        var authenticated = packet.Length + 4;
        _rtcpHmac!.AppendData(destination[..authenticated]);
        _rtcpHmac.GetHashAndReset(_mac);
        _mac.AsSpan(0, HmacTagLength).CopyTo(destination[authenticated..]);
        return authenticated + HmacTagLength;
    }

    /// <summary>
    /// Checks and decrypts the SRTP packet <paramref name="packet"/> into <paramref name="destination"/>; false
    /// (counted in <see cref="Refused"/>) for a bad tag, a replayed or too old index, or a malformed packet.
    /// </summary>
    public bool TryUnprotectRtp(ReadOnlySpan<byte> packet, Span<byte> destination, out int length)
    {
        length = 0;
        var headerLength = RtpHeaderLength(packet);
        if (headerLength < 0 || packet.Length - headerLength < RtpOverhead || packet.Length > MaxPacket + RtpOverhead || destination.Length < packet.Length - RtpOverhead)
        {
            return Refuse();
        }

        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
        var sequence = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        ref var state = ref State(ssrc, out var found);
        if (!found)
        {
            return Refuse();
        }

        // RFC 3711 Appendix A: the index nearest to the highest seen.
        long index;
        if (!state.ReceiveStarted)
        {
            index = sequence;
        }
        else
        {
            var highest = state.ReceiveHighest;
            var roc = (long)(highest >> 16);
            var last = (ushort)highest;
            long v;
            if (last < 32768)
            {
                v = sequence - last > 32768 ? roc - 1 : roc;
            }
            else
            {
                v = last - 32768 > sequence ? roc + 1 : roc;
            }

            if (v < 0)
            {
                return Refuse();
            }

            index = (v << 16) | sequence;
        }

        if (!state.CheckReplay(index))
        {
            return Refuse();
        }

        var plainLength = packet.Length - RtpOverhead;
        var header = packet[..headerLength];
        var ciphertext = packet[headerLength..plainLength];
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> iv = stackalloc byte[12];
            RtpGcmIv(iv, ssrc, (uint)(index >> 16), sequence, _rtpSalt);
            try
            {
                _rtpGcm!.Decrypt(iv, ciphertext, packet.Slice(plainLength, GcmTagLength), destination[headerLength..plainLength], header);
            }
            catch (AuthenticationTagMismatchException)
            {
                return Refuse();
            }
        }
        else
        {
            _rtpHmac!.AppendData(packet[..plainLength]);
            Span<byte> rocBytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(rocBytes, (uint)(index >> 16));
            _rtpHmac.AppendData(rocBytes);
            _rtpHmac.GetHashAndReset(_mac);
            if (!CryptographicOperations.FixedTimeEquals(_mac.AsSpan(0, HmacTagLength), packet.Slice(plainLength, HmacTagLength)))
            {
                return Refuse();
            }

            Keystream(_rtpEcb!, _rtpSalt, ssrc, (ulong)index, ciphertext.Length);
            Xor(ciphertext, _keystream, destination[headerLength..]);
        }

        header.CopyTo(destination);
        state.Accept(index);
        length = plainLength;
        return true;
    }

    /// <summary>
    /// Checks and decrypts the SRTCP packet <paramref name="packet"/> into <paramref name="destination"/>; false
    /// (counted) for a bad tag, a replayed index (64-packet window), or a malformed packet.
    /// </summary>
    public bool TryUnprotectRtcp(ReadOnlySpan<byte> packet, Span<byte> destination, out int length)
    {
        length = 0;
        var trailer = RtcpOverhead;
        if (packet.Length < 8 + trailer || packet.Length > MaxPacket + trailer || (packet[0] >> 6) != 2 || destination.Length < packet.Length - trailer)
        {
            return Refuse();
        }

        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        ref var state = ref State(ssrc, out var found);
        if (!found)
        {
            return Refuse();
        }

        var plainLength = packet.Length - trailer;
        uint eIndex;
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet[(packet.Length - 4)..]);
        }
        else
        {
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet[plainLength..]);
        }

        var index = eIndex & 0x7FFFFFFF;
        var encrypted = (eIndex & 0x80000000) != 0;
        if (!state.CheckRtcpReplay(index))
        {
            return Refuse();
        }

        var body = packet[8..plainLength];
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> iv = stackalloc byte[12];
            RtcpGcmIv(iv, ssrc, index, _rtcpSalt);
            Span<byte> aad = stackalloc byte[12 + MaxPacket];
            packet[..8].CopyTo(aad);
            var tag = packet.Slice(plainLength, GcmTagLength);
            try
            {
                if (encrypted)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
                    _rtcpGcm!.Decrypt(iv, body, tag, destination[8..plainLength], aad[..12]);
                }
                else
                {
                    // Authenticated only: the whole packet and E ‖ index are the associated data.
                    packet[..plainLength].CopyTo(aad);
                    BinaryPrimitives.WriteUInt32BigEndian(aad[plainLength..], eIndex);
                    _rtcpGcm!.Decrypt(iv, [], tag, [], aad[..(plainLength + 4)]);
                    body.CopyTo(destination[8..]);
                }
            }
            catch (AuthenticationTagMismatchException)
            {
                return Refuse();
            }
        }
        else
        {
            _rtcpHmac!.AppendData(packet[..(plainLength + 4)]);
            _rtcpHmac.GetHashAndReset(_mac);
            if (!CryptographicOperations.FixedTimeEquals(_mac.AsSpan(0, HmacTagLength), packet.Slice(plainLength + 4, HmacTagLength)))
            {
                return Refuse();
            }

            if (encrypted)
            {
                Keystream(_rtcpEcb!, _rtcpSalt, ssrc, index, body.Length);
                Xor(body, _keystream, destination[8..]);
            }
            else
            {
                body.CopyTo(destination[8..]);
            }
        }

        packet[..8].CopyTo(destination);
        state.AcceptRtcp(index);
        length = plainLength;
        return true;
    }

    /// <summary>The length of the RTP header (fixed part, CSRCs, extension) or -1 when it is not RTP version 2 or is cut off.</summary>
    public static int RtpHeaderLength(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 12 || (packet[0] >> 6) != 2)
        {
            return -1;
        }

        var length = 12 + (4 * (packet[0] & 0x0F));
        if ((packet[0] & 0x10) != 0)
        {
            if (packet.Length < length + 4)
            {
                return -1;
            }

            length += 4 + (4 * BinaryPrimitives.ReadUInt16BigEndian(packet[(length + 2)..]));
        }

        return length <= packet.Length ? length : -1;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _rtpEcb?.Dispose();
        _rtcpEcb?.Dispose();
        _rtpAes?.Dispose();
        _rtcpAes?.Dispose();
        _rtpGcm?.Dispose();
        _rtcpGcm?.Dispose();
        _rtpHmac?.Dispose();
        _rtcpHmac?.Dispose();
    }

    private bool Refuse()
    {
        Refused++;
        return false;
    }

    private ref SsrcState State(uint ssrc, out bool found)
    {
        for (var i = 0; i < _stateCount; i++)
        {
            if (_states[i].Ssrc == ssrc)
            {
                found = true;
                return ref _states[i];
            }
        }

        if (_stateCount == _states.Length)
        {
            found = false;
            return ref _states[0];
        }

        ref var added = ref _states[_stateCount++];
        added = new SsrcState { Ssrc = ssrc };
        found = true;
        return ref added;
    }

    /// <summary>AES counter mode: the keystream for <paramref name="length"/> bytes into <see cref="_keystream"/>.</summary>
    private void Keystream(ICryptoTransform ecb, byte[] salt, uint ssrc, ulong index, int length)
    {
        var blocks = (length + 15) / 16;
        var counters = _counters.AsSpan(0, blocks * 16);
        Span<byte> iv = stackalloc byte[16];
        salt.AsSpan(0, 14).CopyTo(iv);
        iv[14] = 0;
        iv[15] = 0;
        iv[4] ^= (byte)(ssrc >> 24);
        iv[5] ^= (byte)(ssrc >> 16);
        iv[6] ^= (byte)(ssrc >> 8);
        iv[7] ^= (byte)ssrc;
        for (var i = 0; i < 6; i++)
        {
            iv[8 + i] ^= (byte)(index >> (40 - (8 * i)));
        }

        for (var b = 0; b < blocks; b++)
        {
            var block = counters.Slice(b * 16, 16);
            iv.CopyTo(block);
            BinaryPrimitives.WriteUInt16BigEndian(block[14..], (ushort)b);
        }

        ecb.TransformBlock(_counters, 0, counters.Length, _keystream, 0);
    }

    private static void Xor(ReadOnlySpan<byte> data, ReadOnlySpan<byte> keystream, Span<byte> output)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var width = System.Numerics.Vector<byte>.Count;
            for (; i + width <= data.Length; i += width)
            {
                (new System.Numerics.Vector<byte>(data[i..]) ^ new System.Numerics.Vector<byte>(keystream[i..])).CopyTo(output[i..]);
            }
        }

        for (; i < data.Length; i++)
        {
            output[i] = (byte)(data[i] ^ keystream[i]);
        }
    }

    private static void RtpGcmIv(Span<byte> iv, uint ssrc, uint roc, ushort sequence, byte[] salt)
    {
        iv[0] = 0;
        iv[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv[2..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(iv[6..], roc);
        BinaryPrimitives.WriteUInt16BigEndian(iv[10..], sequence);
        for (var i = 0; i < 12; i++)
        {
            iv[i] ^= salt[i];
        }
    }

    private static void RtcpGcmIv(Span<byte> iv, uint ssrc, uint index, byte[] salt)
    {
        iv[0] = 0;
        iv[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv[2..], ssrc);
        iv[6] = 0;
        iv[7] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv[8..], index & 0x7FFFFFFF);
        for (var i = 0; i < 12; i++)
        {
            iv[i] ^= salt[i];
        }
    }

    private struct SsrcState
    {
        public uint Ssrc;
        public bool SendStarted;
        public ushort SendSequence;
        public uint SendRoc;
        public uint RtcpIndex;
        public bool ReceiveStarted;
        public ulong ReceiveHighest;
        public ulong ReceiveWindow; // bit i: index ReceiveHighest - i seen
        public bool RtcpReceiveStarted;
        public uint RtcpHighest;
        public ulong RtcpWindow;

        public readonly bool CheckReplay(long index)
        {
            if (!ReceiveStarted)
            {
                return true;
            }

            var delta = index - (long)ReceiveHighest;
            if (delta > 0)
            {
                return true;
            }

            return delta > -64 && (ReceiveWindow & (1UL << (int)-delta)) == 0;
        }

        public void Accept(long index)
        {
            if (!ReceiveStarted)
            {
                ReceiveStarted = true;
                ReceiveHighest = (ulong)index;
                ReceiveWindow = 1;
                return;
            }

            var delta = index - (long)ReceiveHighest;
            if (delta > 0)
            {
                ReceiveWindow = delta >= 64 ? 1 : (ReceiveWindow << (int)delta) | 1;
                ReceiveHighest = (ulong)index;
            }
            else
            {
                ReceiveWindow |= 1UL << (int)-delta;
            }
        }

        public readonly bool CheckRtcpReplay(uint index)
        {
            if (!RtcpReceiveStarted)
            {
                return true;
            }

            var delta = (long)index - RtcpHighest;
            if (delta > 0)
            {
                return true;
            }

            return delta > -64 && (RtcpWindow & (1UL << (int)-delta)) == 0;
        }

        public void AcceptRtcp(uint index)
        {
            if (!RtcpReceiveStarted)
            {
                RtcpReceiveStarted = true;
                RtcpHighest = index;
                RtcpWindow = 1;
                return;
            }

            var delta = (long)index - RtcpHighest;
            if (delta > 0)
            {
                RtcpWindow = delta >= 64 ? 1 : (RtcpWindow << (int)delta) | 1;
                RtcpHighest = index;
            }
            else
            {
                RtcpWindow |= 1UL << (int)-delta;
            }
        }
    }
}

/// <summary>The SRTP key derivation function (RFC 3711 §4.3, the AES-CM PRF, key derivation rate 0).</summary>
public static class SrtpKeyDerivation
{
    /// <summary>Label of the SRTP encryption key.</summary>
    public const byte RtpEncryption = 0x00;

    /// <summary>Label of the SRTP authentication key.</summary>
    public const byte RtpAuthentication = 0x01;

    /// <summary>Label of the SRTP salt.</summary>
    public const byte RtpSalt = 0x02;

    /// <summary>Label of the SRTCP encryption key.</summary>
    public const byte RtcpEncryption = 0x03;

    /// <summary>Label of the SRTCP authentication key.</summary>
    public const byte RtcpAuthentication = 0x04;

    /// <summary>Label of the SRTCP salt.</summary>
    public const byte RtcpSalt = 0x05;

    /// <summary>
    /// Writes <paramref name="output"/>.Length bytes of the key labelled <paramref name="label"/>:
    /// AES-CM keyed with the master key over <c>(label·2^48 ⊕ master salt)·2^16</c>. A 12-byte (GCM) master salt
    /// is taken times 2^16, as RFC 7714's erratum 4938 says.
    /// </summary>
    public static void Derive(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt, byte label, Span<byte> output)
    {
        Span<byte> x = stackalloc byte[16];
        x.Clear();
        masterSalt.CopyTo(x);
        x[7] ^= label;
        var blocks = (output.Length + 15) / 16;
        Span<byte> counters = stackalloc byte[blocks * 16];
        for (var b = 0; b < blocks; b++)
        {
            x.CopyTo(counters[(b * 16)..]);
            BinaryPrimitives.WriteUInt16BigEndian(counters[((b * 16) + 14)..], (ushort)b);
        }

        using var aes = Aes.Create();
        aes.Key = masterKey.ToArray();
        Span<byte> stream = stackalloc byte[blocks * 16];
        aes.EncryptEcb(counters, stream, PaddingMode.None);
        stream[..output.Length].CopyTo(output);
        CryptographicOperations.ZeroMemory(stream);
    }
}
