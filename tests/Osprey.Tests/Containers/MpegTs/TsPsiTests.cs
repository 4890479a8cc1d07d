using Osprey.Containers.MpegTs;

namespace Osprey.Tests.Containers.MpegTs;

public class TsPsiTests
{
    [Fact]
    public void Crc32Mpeg2_MatchesTheCatalogueCheckValue_AndRealSectionsCheckToZero()
    {
        // reveng's catalogue: CRC-32/MPEG-2 of "123456789" is 0x0376E6E7.
        Assert.Equal(0x0376E6E7u, TsCrc32.Compute("123456789"u8));

        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        var pat = TsFixtures.Packets(stream).First(p => TsPacket.GetPid(p) == 0);
        var payload = TsPacket.GetPayload(pat);
        var section = payload[(1 + payload[0])..];
        var length = 3 + (((section[1] & 0x0F) << 8) | section[2]);
        Assert.True(TsCrc32.IsValid(section[..length]));
        Assert.False(TsCrc32.IsValid(section[..(length - 1)]));
    }

    [Fact]
    public void PacketFields_ReadFromRealPackets_AndPatchedInPlace()
    {
        var packets = TsFixtures.Packets(TsFixtures.Load(TsFixtures.Mpeg1Video)).ToList();
        var key = packets[3]; // the first video packet: adaptation field with PCR and random_access_indicator
        Assert.True(TsPacket.HasSync(key));
        Assert.Equal(0x100, TsPacket.GetPid(key));
        Assert.True(TsPacket.IsPayloadUnitStart(key));
        Assert.True(TsPacket.HasAdaptationField(key) && TsPacket.HasPayload(key));
        Assert.True(TsPacket.IsRandomAccess(key));
        Assert.False(TsPacket.IsDiscontinuity(key));
        Assert.True(TsPacket.TryGetPcr(key, out var pcr));
        // ffmpeg starts its clock at 1.4 s minus the mux delay (0.7 s by default): a first PCR of about 0.6-1.4 s.
        Assert.InRange(pcr / 27_000_000.0, 0.5, 1.5);
        Assert.Equal(TsPacket.Size - 4 - 1 - key[4], TsPacket.GetPayload(key).Length);

        var copy = key.ToArray();
        TsPacket.SetPid(copy, 0x1ABC);
        TsPacket.SetContinuityCounter(copy, 0x1F);
        Assert.Equal((0x1ABC, 0x0F, true), (TsPacket.GetPid(copy), TsPacket.GetContinuityCounter(copy), TsPacket.IsPayloadUnitStart(copy)));
        Assert.Equal(key.AsSpan(4).ToArray(), copy.AsSpan(4).ToArray());

        Assert.False(TsPacket.TryGetPcr(packets[1], out _));
        Assert.Equal(4, TsPacket.GetPayloadOffset(packets[1]));
    }

    [Fact]
    public void MalformedAdaptationFields_GiveNoPayload_NeverAnException()
    {
        var packet = new byte[TsPacket.Size];
        TsPacket.WriteHeader(packet, 0x100, payloadUnitStart: true, 0);
        packet[3] = 0x30; // adaptation and payload
        packet[4] = 183;  // no byte left for the payload
        Assert.True(TsPacket.GetPayload(packet).IsEmpty);
        packet[3] = 0x00; // reserved adaptation_field_control
        Assert.True(TsPacket.GetPayload(packet).IsEmpty);
        packet[3] = 0x20; // adaptation only, length 0: no flags
        packet[4] = 0;
        Assert.False(TsPacket.IsRandomAccess(packet));
        Assert.False(TsPacket.TryGetPcr(packet, out _));
        packet[4] = 1;
        packet[5] = 0x10; // PCR flag with no room for a PCR
        Assert.False(TsPacket.TryGetPcr(packet, out _));
    }

    [Fact]
    public void PatAndPmt_WriteThenRead_RoundTrip()
    {
        Span<byte> pat = stackalloc byte[TsPsi.PatSize];
        Assert.Equal(TsPsi.PatSize, TsPsi.WritePat(pat, transportStreamId: 0x1234, version: 5, programNumber: 7, pmtPid: 0x1000));
        Assert.True(TsCrc32.IsValid(pat));
        Assert.True(TsPsi.TryReadHeader(pat, out var header));
        Assert.Equal(new TsSectionHeader(TsPsi.PatTableId, 0x1234, 5, true, 0, 0), header);
        Assert.True(TsPsi.TryReadPat(pat, out var tsid, out var number, out var pmtPid));
        Assert.Equal((0x1234, 7, 0x1000), (tsid, number, pmtPid));

        byte[] language = [0x0A, 4, (byte)'e', (byte)'n', (byte)'g', 0];
        var program = new TsProgram(7, 0x1000, 0x100,
        [
            new TsElementaryStream(0x100, TsStreamTypes.H264),
            new TsElementaryStream(0x101, TsStreamTypes.AacAdts, language),
            new TsElementaryStream(0x102, TsStreamTypes.PrivateData, new byte[] { 0x05, 4, (byte)'O', (byte)'p', (byte)'u', (byte)'s' }),
            new TsElementaryStream(0x103, TsStreamTypes.PrivateData, new byte[] { 0x6A, 1, 0 }),
            new TsElementaryStream(0x104, 0x86),
        ], new byte[] { 0x0E, 3, 0xC0, 0, 0 });
        var pmt = new byte[TsPsi.GetPmtSize(program)];
        Assert.Equal(pmt.Length, TsPsi.WritePmt(pmt, program, version: 9));
        Assert.True(TsCrc32.IsValid(pmt));

        var read = TsPsi.ReadPmt(pmt, 0x1000)!;
        Assert.Equal((7, 0x1000, 0x100, 9), (read.ProgramNumber, read.PmtPid, read.PcrPid, read.Version));
        Assert.Equal(program.ProgramInfo.ToArray(), read.ProgramInfo.ToArray());
        Assert.Equal(["h264", "aac", "opus", "ac3", "scte35"], read.Streams.Select(s => s.Codec));
        Assert.Equal([TsStreamKind.Video, TsStreamKind.Audio, TsStreamKind.Audio, TsStreamKind.Audio, TsStreamKind.Other], read.Streams.Select(s => s.Kind));
        Assert.Equal(language, read.Streams[1].Descriptors.ToArray());
        Assert.True(read.HasVideo && read.HasAudio);
        Assert.Equal(0x101, read.Find(0x101)!.Pid);
        Assert.Null(read.Find(0x1FF));

        // A real ffmpeg PMT reads the same way, and written again gives the same bytes.
        var real = TsFixtures.Packets(TsFixtures.Load(TsFixtures.Mpeg1VideoMp2)).First(p => TsPacket.GetPid(p) == 0x1000);
        var payload = TsPacket.GetPayload(real);
        var section = payload[1..];
        section = section[..(3 + (((section[1] & 0x0F) << 8) | section[2]))];
        var ffmpeg = TsPsi.ReadPmt(section, 0x1000)!;
        Assert.Equal(["mpeg2video", "mpegaudio"], ffmpeg.Streams.Select(s => s.Codec));
        var rewritten = new byte[TsPsi.GetPmtSize(ffmpeg)];
        TsPsi.WritePmt(rewritten, ffmpeg, ffmpeg.Version);
        Assert.Equal(section.ToArray(), rewritten);
    }

    [Fact]
    public void ASectionOverManyPackets_ReassemblesAtEveryPosition_WithTheNextSectionInTheSamePacket()
    {
        // A PMT of about 700 bytes: 4 packets. Packetize writes pointer_field 0; then hand-made packets put the
        // end of one section and the start of the next in one packet, as multiplexers do.
        var streams = Enumerable.Range(0, 40).Select(i => new TsElementaryStream(0x100 + i, TsStreamTypes.AacAdts, new byte[12])).ToArray();
        var big = new TsProgram(1, 0x1000, 0x100, streams);
        var section = new byte[TsPsi.GetPmtSize(big)];
        TsPsi.WritePmt(section, big, 3);
        Assert.Equal(4, TsPsi.GetPacketCount(section.Length));
        var packets = new byte[4 * TsPacket.Size];
        var counter = 14;
        Assert.Equal(packets.Length, TsPsi.Packetize(packets, 0x1000, section, ref counter));
        Assert.Equal(2, counter); // 14, 15, 0, 1 used

        var assembler = new TsSectionAssembler();
        var got = new List<byte[]>();
        for (var i = 0; i < 4; i++)
        {
            assembler.Push(packets.AsSpan(i * TsPacket.Size, TsPacket.Size), got, static (list, s) => list.Add(s.ToArray()));
        }

        Assert.Equal(section, Assert.Single(got));
        Assert.Equal(TsStreamKind.Audio, TsPsi.ReadPmt(got[0], 0x1000)!.Streams[39].Kind);

        // Two small sections (PATs) back to back, the second split over a packet boundary at every position.
        var pat1 = new byte[TsPsi.PatSize];
        var pat2 = new byte[TsPsi.PatSize];
        TsPsi.WritePat(pat1, 1, 0, 1, 0x1000);
        TsPsi.WritePat(pat2, 1, 1, 1, 0x1001);
        for (var split = 1; split < TsPsi.PatSize; split++)
        {
            var first = new byte[TsPacket.Size];
            var second = new byte[TsPacket.Size];
            // [pointer 0][pat1][a private section filling the gap][the first `split` bytes of pat2]
            var fillerLength = TsPacket.MaxPayloadSize - 1 - pat1.Length - split;
            TsPacket.WriteHeader(first, 0, payloadUnitStart: true, 0);
            first[4] = 0;
            pat1.CopyTo(first, 5);
            first[5 + pat1.Length] = 0x80;
            first[5 + pat1.Length + 1] = (byte)(0x70 | ((fillerLength - 3) >> 8));
            first[5 + pat1.Length + 2] = (byte)(fillerLength - 3);
            pat2.AsSpan(0, split).CopyTo(first.AsSpan(TsPacket.Size - split));
            TsPacket.WriteHeader(second, 0, payloadUnitStart: true, 1);
            second[4] = (byte)(TsPsi.PatSize - split); // pointer: the rest of pat2 comes first
            pat2.AsSpan(split).CopyTo(second.AsSpan(5));
            second.AsSpan(5 + TsPsi.PatSize - split).Fill(0xFF);

            var sections = new List<byte[]>();
            var pats = new TsSectionAssembler();
            pats.Push(first, sections, static (list, s) => list.Add(s.ToArray()));
            pats.Push(second, sections, static (list, s) => list.Add(s.ToArray()));
            Assert.Equal(3, sections.Count);
            Assert.Equal(pat1, sections[0]);
            Assert.Equal(0x80, sections[1][0]);
            Assert.Equal(pat2, sections[2]);
            Assert.Equal(0, pats.CrcErrors + pats.BrokenSections);
        }
    }

    [Fact]
    public void CorruptLostOrTruncatedSections_AreCountedAndDropped_NeverThrown()
    {
        var streams = Enumerable.Range(0, 40).Select(i => new TsElementaryStream(0x100 + i, TsStreamTypes.H264, new byte[12])).ToArray();
        var section = new byte[TsPsi.GetPmtSize(new TsProgram(1, 0x1000, 0x100, streams))];
        TsPsi.WritePmt(section, new TsProgram(1, 0x1000, 0x100, streams), 0);
        var packets = new byte[4 * TsPacket.Size];
        var counter = 0;
        TsPsi.Packetize(packets, 0x1000, section, ref counter);

        // A flipped bit: the CRC catches it.
        var corrupt = packets.ToArray();
        corrupt[TsPacket.Size + 50] ^= 0x10;
        var assembler = new TsSectionAssembler();
        var delivered = 0;
        PushAll(assembler, corrupt, () => delivered++);
        Assert.Equal((0, 1L, 0L), (delivered, assembler.CrcErrors, assembler.BrokenSections));

        // A lost middle packet: the continuity counter catches it, the partial section is dropped.
        var lost = packets.AsSpan(0, TsPacket.Size).ToArray().Concat(packets.AsSpan(2 * TsPacket.Size).ToArray()).ToArray();
        assembler = new TsSectionAssembler();
        PushAll(assembler, lost, () => delivered++);
        Assert.Equal((0, 0L, 1L), (delivered, assembler.CrcErrors, assembler.BrokenSections));

        // Truncated: the next section start comes while one is unfinished.
        assembler = new TsSectionAssembler();
        PushAll(assembler, [.. packets.AsSpan(0, 2 * TsPacket.Size), .. Renumber(packets, 2)], () => delivered++);
        Assert.Equal((1, 0L, 1L), (delivered, assembler.CrcErrors, assembler.BrokenSections));

        // A pointer past the packet, a length beyond the maximum, transport errors: dropped.
        var bad = new byte[TsPacket.Size];
        TsPacket.WriteHeader(bad, 0, payloadUnitStart: true, 0);
        bad[4] = 200;
        assembler = new TsSectionAssembler(TsPsi.MaxSectionSize);
        assembler.Push(bad, 0, static (_, _) => Assert.Fail("no section"));
        bad[4] = 0;
        bad[5] = 0x02;
        bad[6] = 0xBF; // section_length 0xFFF
        bad[7] = 0xFF;
        TsPacket.SetContinuityCounter(bad, 1);
        assembler.Push(bad, 0, static (_, _) => Assert.Fail("no section"));
        Assert.Equal(1, assembler.BrokenSections);

        // Random packets on the PAT PID never throw.
        var random = new Random(5);
        var tracker = new TsPsiTracker();
        var packet = new byte[TsPacket.Size];
        for (var i = 0; i < 20000; i++)
        {
            random.NextBytes(packet);
            packet[0] = TsPacket.SyncByte;
            packet[1] = (byte)(packet[1] & 0xE0);
            packet[2] = (byte)(i % 3 == 0 ? 0 : 0x10);
            tracker.Push(packet);
        }
    }

    [Fact]
    public void TheTracker_FollowsPatAndPmtChanges_AndRepeatsCostNothing()
    {
        var tracker = new TsPsiTracker();
        var stream = TsFixtures.Load(TsFixtures.Mpeg1VideoMp2);
        var changes = 0;
        foreach (var packet in TsFixtures.Packets(stream))
        {
            changes += tracker.Push(packet) ? 1 : 0;
        }

        // The PAT (no PMT yet: no header), then the PMT; the many repeats change nothing.
        Assert.Equal(2, changes);
        Assert.Equal((1, 0x1000, 1), (tracker.TransportStreamId, tracker.PmtPid, tracker.Program!.ProgramNumber));
        Assert.True(tracker.IsPsiPid(0) && tracker.IsPsiPid(0x11) && tracker.IsPsiPid(0x1000));
        Assert.False(tracker.IsPsiPid(0x100));

        // A new PAT pointing elsewhere drops the programme until its PMT arrives.
        var pat = new byte[TsPsi.PatSize];
        TsPsi.WritePat(pat, 1, 1, 1, 0x1200);
        var packets = new byte[TsPacket.Size];
        var counter = 9;
        TsPsi.Packetize(packets, 0, pat, ref counter);
        Assert.True(tracker.Push(packets));
        Assert.Null(tracker.Program);
        Assert.True(tracker.HeaderPackets.IsEmpty);
        Assert.Equal(0x1200, tracker.PmtPid);

        var pmt = new byte[64];
        var length = TsPsi.WritePmt(pmt, new TsProgram(1, 0x1200, 0x1FFF, [new TsElementaryStream(0x300, TsStreamTypes.Mpeg1Audio)]), 0);
        counter = 0;
        TsPsi.Packetize(packets, 0x1200, pmt.AsSpan(0, length), ref counter);
        Assert.True(tracker.Push(packets));
        Assert.Equal(0x300, Assert.Single(tracker.Program!.Streams).Pid);
        Assert.Equal(2 * TsPacket.Size, tracker.HeaderPackets.Length);
        Assert.Equal(0x300, TsProgram.FromPsiPackets(tracker.HeaderPackets.Span)!.Streams[0].Pid);
    }

    private static void PushAll(TsSectionAssembler assembler, byte[] packets, Action onSection)
    {
        for (var offset = 0; offset < packets.Length; offset += TsPacket.Size)
        {
            assembler.Push(packets.AsSpan(offset, TsPacket.Size), onSection, static (callback, _) => callback());
        }
    }

    private static byte[] Renumber(byte[] packets, int firstCounter)
    {
        var copy = packets.ToArray();
        for (var offset = 0; offset < copy.Length; offset += TsPacket.Size)
        {
            TsPacket.SetContinuityCounter(copy.AsSpan(offset), firstCounter++);
        }

        return copy;
    }
}
