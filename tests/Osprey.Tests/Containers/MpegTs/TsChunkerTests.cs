using Osprey.Containers.MpegTs;

namespace Osprey.Tests.Containers.MpegTs;

public class TsChunkerTests
{
    public static TheoryData<string> Fixtures => [.. TsFixtures.All];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void EverySplitSize_GivesTheSameChunksAndKeyFlags(string fixture)
    {
        var stream = TsFixtures.Load(fixture);
        var reference = ChunkRecorder.Run(new TsChunker(), stream, stream.Length);
        Assert.Equal(stream, reference.Concatenated());

        var random = new Random(188);
        foreach (var size in new[] { 1, 2, 7, 187, 188, 189, 376, 1316, 4096, 65536 })
        {
            var split = ChunkRecorder.Run(new TsChunker(), stream, size);
            AssertSameChunks(reference, split, $"pieces of {size}");
        }

        // Random piece sizes.
        for (var round = 0; round < 5; round++)
        {
            var chunker = new TsChunker();
            var recorder = new ChunkRecorder();
            for (var offset = 0; offset < stream.Length;)
            {
                var size = Math.Min(random.Next(1, 3000), stream.Length - offset);
                chunker.Write(stream.AsSpan(offset, size), recorder);
                offset += size;
            }

            chunker.Flush(recorder);
            AssertSameChunks(reference, recorder, $"random pieces, round {round}");
            Assert.Equal(0, chunker.ResyncCount);
            Assert.Equal(0, chunker.DiscardedBytes);
            Assert.Equal(0, chunker.ContinuityErrors);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FlushingAfterEveryRead_LosesNothing_AndKeyChunksStartAtTheSamePlaces(string fixture)
    {
        var stream = TsFixtures.Load(fixture);
        var reference = ChunkRecorder.Run(new TsChunker(), stream, stream.Length);
        foreach (var size in new[] { 1, 7, 187, 189, 1316 })
        {
            var flushed = ChunkRecorder.Run(new TsChunker(), stream, size, flushEachPiece: true);
            Assert.Equal(stream, flushed.Concatenated());
            Assert.Equal(reference.KeyOffsets(), flushed.KeyOffsets());
            Assert.True(flushed.Chunks.Count >= reference.Chunks.Count);
        }
    }

    [Theory]
    [InlineData(TsFixtures.Mpeg1Video, 5)]
    [InlineData(TsFixtures.H264, 3)]
    [InlineData(TsFixtures.Mpeg1VideoMp2, 3)]
    public void KeyChunks_StartWithPatAndPmt_ThenTheVideoStartPoint_OnePerGroupOfPictures(string fixture, int groups)
    {
        // The group counts are ffprobe's key frames (make-fixtures.sh prints them).
        var stream = TsFixtures.Load(fixture);
        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, stream, 1316, flushEachPiece: true);

        Assert.Equal(groups, recorder.Chunks.Count(chunk => chunk.IsKey));
        Assert.Equal(groups, chunker.KeyChunks);
        Assert.True(recorder.Chunks[0].IsKey, "the stream starts with a key chunk");
        foreach (var (packets, _) in recorder.Chunks.Where(chunk => chunk.IsKey))
        {
            var pids = new List<int>();
            var offset = 0;
            while (TsFixtures.IsPsi(packets.AsSpan(offset, TsPacket.Size)))
            {
                pids.Add(TsPacket.GetPid(packets.AsSpan(offset)));
                offset += TsPacket.Size;
            }

            Assert.Contains(TsPacket.PatPid, pids);
            Assert.Contains(0x1000, pids);
            Assert.True(pids.IndexOf(TsPacket.PatPid) < pids.IndexOf(0x1000), "PAT before PMT");

            var first = packets.AsSpan(offset, TsPacket.Size);
            Assert.Equal(0x100, TsPacket.GetPid(first));
            Assert.True(TsPacket.IsPayloadUnitStart(first));
            var es = TsFixtures.PesPayload(first);
            if (fixture == TsFixtures.H264)
            {
                // Access unit delimiter, then the SPS.
                Assert.Equal<byte>([0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67], es[..11].ToArray());
            }
            else
            {
                Assert.Equal<byte>([0, 0, 1, 0xB3], es[..4].ToArray());
            }
        }

        // No other chunk starts a group: every sequence header / SPS is at the start of a key chunk.
        foreach (var (packets, _) in recorder.Chunks.Where(chunk => !chunk.IsKey))
        {
            for (var offset = 0; offset < packets.Length; offset += TsPacket.Size)
            {
                var packet = packets.AsSpan(offset, TsPacket.Size);
                if (TsPacket.GetPid(packet) == 0x100 && TsPacket.IsPayloadUnitStart(packet) && fixture != TsFixtures.Mp2)
                {
                    Assert.False(TsPacket.IsRandomAccess(packet), "a random access point inside a non-key chunk");
                }
            }
        }
    }

    [Fact]
    public void AudioOnly_EveryAudioPesStartsAKeyChunk()
    {
        var stream = TsFixtures.Load(TsFixtures.Mp2);
        var pesStarts = TsFixtures.Packets(stream).Count(p => TsPacket.GetPid(p) == 0x100 && TsPacket.IsPayloadUnitStart(p));
        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, stream, 1316, flushEachPiece: true);

        Assert.False(chunker.HasVideo);
        Assert.Equal(pesStarts, recorder.Chunks.Count(chunk => chunk.IsKey));
        Assert.Equal("mpegaudio", Assert.Single(chunker.Program!.Streams).Codec);
        Assert.Equal(TsStreamKind.Audio, chunker.Program.Streams[0].Kind);
    }

    [Fact]
    public void WithVideo_AudioPesStartsAreNotKeyChunks_EvenWithRandomAccessIndicator()
    {
        var stream = TsFixtures.Load(TsFixtures.Mpeg1VideoMp2);
        var audioWithRandomAccess = TsFixtures.Packets(stream).Count(p => TsPacket.GetPid(p) == 0x101 && TsPacket.IsRandomAccess(p));
        Assert.True(audioWithRandomAccess > 10, "ffmpeg flags every audio frame");

        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, stream, stream.Length);
        Assert.Equal(3, chunker.KeyChunks);
        Assert.True(chunker.HasVideo);
        Assert.Equal([TsStreamKind.Video, TsStreamKind.Audio], chunker.Program!.Streams.Select(s => s.Kind));
        Assert.Equal(0x100, chunker.Program.PcrPid);
        Assert.True(chunker.LastPcr > 0);
    }

    [Fact]
    public void WithoutPatAndPmt_VideoIsFoundByStreamId_AsJsmpegDoes()
    {
        // jsmpeg ignores PSI; a stream stripped of it still gets its key chunks from the PES stream_id and the
        // sequence header, and random_access_indicator is not needed either.
        var stream = TsFixtures.Load(TsFixtures.Mpeg1VideoMp2);
        var stripped = TsFixtures.Packets(stream).Where(p => !TsFixtures.IsPsi(p)).Select(p =>
        {
            if (TsPacket.IsRandomAccess(p))
            {
                p[5] &= 0xBF;
            }

            return p;
        }).SelectMany(p => p).ToArray();

        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, stripped, 1316, flushEachPiece: true);
        Assert.Null(chunker.Program);
        Assert.True(chunker.HasVideo);
        Assert.Equal(3, chunker.KeyChunks);
        Assert.Empty(recorder.Headers);
        foreach (var (packets, _) in recorder.Chunks.Where(c => c.IsKey))
        {
            Assert.Equal<byte>([0, 0, 1, 0xB3], TsFixtures.PesPayload(packets)[..4].ToArray());
        }
    }

    [Fact]
    public void TheHeader_IsThePatAndPmt_AnnouncedOnceBeforeTheFirstChunk()
    {
        var stream = TsFixtures.Load(TsFixtures.H264);
        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, stream, 1316, flushEachPiece: true);

        var header = Assert.Single(recorder.Headers);
        Assert.Equal([0], recorder.ChunksBeforeHeader);
        Assert.Equal(2 * TsPacket.Size, header.Length);
        Assert.Equal(header, chunker.HeaderPackets.ToArray());
        Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(header));
        Assert.Equal(0x1000, TsPacket.GetPid(header.AsSpan(TsPacket.Size)));

        // The same tables as the stream's own PAT and PMT packets, as standalone packets.
        var program = TsProgram.FromPsiPackets(header)!;
        Assert.Equal(1, program.ProgramNumber);
        Assert.Equal(0x1000, program.PmtPid);
        var video = Assert.Single(program.Streams);
        Assert.Equal((0x100, TsStreamTypes.H264, "h264", TsStreamKind.Video), (video.Pid, video.StreamType, video.Codec, video.Kind));
        var ownPat = TsFixtures.Packets(stream).First(p => TsPacket.GetPid(p) == 0);
        Assert.Equal(TsPacket.GetPayload(ownPat).ToArray(), TsPacket.GetPayload(header).ToArray());
    }

    [Fact]
    public void AChangedPmt_CutsTheChunkBeforeIt_AndAnnouncesTheNewHeader()
    {
        // Two ffmpeg runs back to back (a restarted encoder with another codec): the second run's tables differ.
        var first = TsFixtures.Load(TsFixtures.Mpeg1Video);
        var second = TsFixtures.Load(TsFixtures.H264);
        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, [.. first, .. second], 1316, flushEachPiece: true);

        Assert.Equal(2, recorder.Headers.Count);
        Assert.Equal(8, chunker.KeyChunks);
        var cut = recorder.ChunksBeforeHeader[1];
        Assert.Equal(first, recorder.Chunks.Take(cut).SelectMany(c => c.Packets).ToArray());
        Assert.True(recorder.Chunks[cut].IsKey);
        Assert.Equal("h264", chunker.Program!.Streams[0].Codec);
    }

    [Theory]
    [InlineData(TsFixtures.Mpeg1Video)]
    [InlineData(TsFixtures.H264)]
    public void TruncatedInput_AnywhereInAPacket_GivesTheWholePacketsBeforeTheCut(string fixture)
    {
        var stream = TsFixtures.Load(fixture);
        // Mid-PAT, mid-PMT, in the first video PES, in a later PES, and at random places.
        var random = new Random(7);
        var cuts = new List<int> { 1 * TsPacket.Size + 50, 2 * TsPacket.Size + 10, 3 * TsPacket.Size + 100, 40 * TsPacket.Size + 1 };
        cuts.AddRange(Enumerable.Range(0, 20).Select(_ => random.Next(1, stream.Length)));
        foreach (var cut in cuts)
        {
            var chunker = new TsChunker();
            var recorder = ChunkRecorder.Run(chunker, stream.AsSpan(0, cut), 997, flushEachPiece: true);
            var whole = cut / TsPacket.Size;
            var emitted = recorder.Concatenated();
            Assert.True(emitted.AsSpan().SequenceEqual(stream.AsSpan(0, emitted.Length)), $"cut at {cut}: a prefix");
            // Whatever was not handed out is the trailing PSI run (waiting to see what follows), or alignment that
            // three sync bytes could not confirm yet.
            var held = (whole * TsPacket.Size) - emitted.Length;
            Assert.True(held >= 0 && held <= 3 * TsPacket.Size, $"cut at {cut}: {held} bytes held");
            Assert.Equal(0, chunker.DiscardedBytes);
            Assert.Equal(0, chunker.ContinuityErrors);
            Assert.Equal(cut > 2 * TsPacket.Size ? whole : 0, chunker.Packets);
            if (cut < 3 * TsPacket.Size)
            {
                Assert.Null(chunker.Program); // the PMT never completed
            }
        }
    }

    [Fact]
    public void AStreamCutMidPacket_ThenStartedAgain_Resyncs()
    {
        // ffmpeg's connection dropped mid-packet and a new run starts: the partial packet and the start of the new
        // one make one damaged packet, and alignment is found again right after.
        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        const int Partial = 100;
        var cut = (50 * TsPacket.Size) + Partial;
        byte[] joined = [.. stream.AsSpan(0, cut), .. stream];
        foreach (var size in new[] { 1, 188, 1316, joined.Length })
        {
            var chunker = new TsChunker();
            var recorder = ChunkRecorder.Run(chunker, joined, size);
            Assert.Equal(1, chunker.ResyncCount);
            Assert.Equal(Partial, chunker.DiscardedBytes);
            var output = recorder.Concatenated();
            Assert.Equal(stream.AsSpan(TsPacket.Size).ToArray(), output.AsSpan(output.Length - stream.Length + TsPacket.Size).ToArray());
        }
    }

    [Fact]
    public void GarbageBetweenPackets_IsSkippedAndCounted_EveryPacketStillComesOut()
    {
        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        var packets = TsFixtures.Packets(stream).ToList();
        var random = new Random(3);
        var garbage = new List<byte>();
        var damaged = new List<byte>();
        var insertions = 0;
        for (var i = 0; i < packets.Count; i++)
        {
            damaged.AddRange(packets[i]);
            if (i % 37 == 20)
            {
                // Garbage without the sync byte, of every awkward length.
                var length = random.Next(1, 600);
                var junk = Enumerable.Range(0, length).Select(_ => (byte)random.Next(0x48, 0x100)).ToArray();
                damaged.AddRange(junk);
                garbage.AddRange(junk);
                insertions++;
            }
        }

        foreach (var size in new[] { 1, 189, 1316, damaged.Count })
        {
            var chunker = new TsChunker();
            var recorder = ChunkRecorder.Run(chunker, damaged.ToArray(), size);
            Assert.Equal(stream, recorder.Concatenated());
            Assert.Equal(insertions, chunker.ResyncCount);
            Assert.Equal(garbage.Count, chunker.DiscardedBytes);
            Assert.Equal(5, chunker.KeyChunks);
            Assert.Equal(0, chunker.ContinuityErrors);
        }
    }

    [Fact]
    public void ADroppedByte_DamagesOnePacket_LosesTheNext_AndResyncs()
    {
        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        const int Packet = 30;
        var dropAt = (Packet * TsPacket.Size) + 100;
        byte[] damaged = [.. stream.AsSpan(0, dropAt), .. stream.AsSpan(dropAt + 1)];
        foreach (var size in new[] { 1, 7, 1316, damaged.Length })
        {
            var chunker = new TsChunker();
            var output = ChunkRecorder.Run(chunker, damaged, size).Concatenated();
            Assert.Equal(1, chunker.ResyncCount);
            // Packet 30 took one byte of packet 31; the other 187 of packet 31 are skipped.
            Assert.Equal(TsPacket.Size - 1, chunker.DiscardedBytes);
            Assert.Equal(stream.AsSpan(0, Packet * TsPacket.Size).ToArray(), output.AsSpan(0, Packet * TsPacket.Size).ToArray());
            Assert.Equal(stream.AsSpan((Packet + 2) * TsPacket.Size).ToArray(), output.AsSpan((Packet + 1) * TsPacket.Size).ToArray());
            Assert.True(chunker.ContinuityErrors >= 1, "packet 31 is missing on its PID");
        }
    }

    [Fact]
    public void LostAndDuplicatedPackets_CountContinuityErrors()
    {
        var packets = TsFixtures.Packets(TsFixtures.Load(TsFixtures.Mpeg1Video)).ToList();
        var videoPackets = Enumerable.Range(0, packets.Count).Where(i => TsPacket.GetPid(packets[i]) == 0x100 && TsPacket.HasPayload(packets[i])).ToList();

        var lost = packets.Where((_, i) => i != videoPackets[10] && i != videoPackets[100]).SelectMany(p => p).ToArray();
        var chunker = new TsChunker();
        ChunkRecorder.Run(chunker, lost, 1316);
        Assert.Equal(2, chunker.ContinuityErrors);

        // One duplicate is allowed by the standard; a lost PSI packet counts too.
        var patIndex = packets.FindIndex(20, p => TsPacket.GetPid(p) == 0);
        var duplicated = videoPackets[50];
        var edited = packets.SelectMany((p, i) => i == patIndex ? [] : i == duplicated ? [.. p, .. p] : p).ToArray();
        chunker = new TsChunker();
        ChunkRecorder.Run(chunker, edited, 1316);
        Assert.Equal(1, chunker.ContinuityErrors);
    }

    [Fact]
    public void ACorruptPmtCrc_IsRejectedAndCounted_TheProgrammeStays()
    {
        var packets = TsFixtures.Packets(TsFixtures.Load(TsFixtures.Mpeg1Video)).ToList();
        var pmts = Enumerable.Range(0, packets.Count).Where(i => TsPacket.GetPid(packets[i]) == 0x1000).ToList();
        foreach (var index in pmts.Skip(1))
        {
            packets[index][20] ^= 0x01; // inside the section: its CRC no longer checks
        }

        var chunker = new TsChunker();
        var recorder = ChunkRecorder.Run(chunker, packets.SelectMany(p => p).ToArray(), 1316);
        Assert.Equal(pmts.Count - 1, chunker.PsiErrors);
        Assert.Single(recorder.Headers);
        // ffmpeg gives MPEG-1 video the MPEG-2 stream type (0x02), which decoders of either accept.
        Assert.Equal((TsStreamTypes.Mpeg2Video, "mpeg2video"), (chunker.Program!.Streams[0].StreamType, chunker.Program.Streams[0].Codec));

        // With every PMT corrupt there is no programme, and key chunks still come from the sequence headers.
        packets[pmts[0]][20] ^= 0x01;
        chunker = new TsChunker();
        recorder = ChunkRecorder.Run(chunker, packets.SelectMany(p => p).ToArray(), 1316);
        Assert.Null(chunker.Program);
        Assert.Empty(recorder.Headers);
        Assert.Equal(pmts.Count, chunker.PsiErrors);
        Assert.Equal(5, chunker.KeyChunks);
    }

    [Fact]
    public void RandomBytes_NeverThrow_StayBounded_AndEveryByteIsAccountedFor()
    {
        var random = new Random(12345);
        var data = new byte[10 * 1024 * 1024];
        random.NextBytes(data);
        // Sprinkle sync bytes, some 188 apart, to exercise false candidates.
        for (var i = 0; i < 20000; i++)
        {
            var at = random.Next(data.Length - 400);
            data[at] = TsPacket.SyncByte;
            if (i % 3 == 0)
            {
                data[at + TsPacket.Size] = TsPacket.SyncByte;
            }
        }

        var chunker = new TsChunker(64 * 1024);
        var sink = new CountingSink();
        var maxCapacity = 0;
        for (var offset = 0; offset < data.Length;)
        {
            var size = Math.Min(random.Next(1, 5000), data.Length - offset);
            chunker.Write(data.AsSpan(offset, size), sink);
            if (random.Next(4) == 0)
            {
                chunker.Flush(sink);
            }

            offset += size;
            maxCapacity = Math.Max(maxCapacity, chunker.BufferCapacity);
        }

        chunker.Flush(sink);
        Assert.True(maxCapacity <= (64 * 1024) + (4 * TsPacket.Size), $"capacity {maxCapacity}");
        Assert.True(chunker.DiscardedBytes > data.Length * 0.99, $"{chunker.DiscardedBytes} discarded");
        Assert.Equal(data.Length, chunker.DiscardedBytes + chunker.Bytes + chunker.CarriedBytes);
        Assert.Equal(chunker.Bytes, sink.Bytes + chunker.BufferedBytes - chunker.CarriedBytes);
    }

    [Fact]
    public void RandomlyDamagedRealStreams_NeverThrow_AndAccountForEveryByte()
    {
        var random = new Random(99);
        foreach (var fixture in TsFixtures.All)
        {
            var stream = TsFixtures.Load(fixture);
            for (var round = 0; round < 20; round++)
            {
                var damaged = new List<byte>(stream);
                for (var edit = 0; edit < 30; edit++)
                {
                    var at = random.Next(damaged.Count);
                    switch (random.Next(3))
                    {
                        case 0:
                            damaged[at] = (byte)random.Next(256);
                            break;
                        case 1:
                            damaged.RemoveRange(at, Math.Min(random.Next(1, 300), damaged.Count - at));
                            break;
                        default:
                            damaged.InsertRange(at, Enumerable.Range(0, random.Next(1, 300)).Select(_ => (byte)random.Next(256)));
                            break;
                    }
                }

                var chunker = new TsChunker();
                var sink = new CountingSink();
                var bytes = damaged.ToArray();
                for (var offset = 0; offset < bytes.Length;)
                {
                    var size = Math.Min(random.Next(1, 2000), bytes.Length - offset);
                    chunker.Write(bytes.AsSpan(offset, size), sink);
                    chunker.Flush(sink);
                    offset += size;
                }

                Assert.Equal(bytes.Length, chunker.DiscardedBytes + chunker.Bytes + chunker.CarriedBytes);
                Assert.True(chunker.Packets > 0);
            }
        }
    }

    [Fact]
    public void ATenMegabyteFloodWithoutStartPoints_IsCutAtTheCap_AndStaysBounded()
    {
        // Valid packets of one PID that never starts a PES (nothing to cut at but the size cap), plus one huge PES.
        const int Max = 32 * 1024;
        var packet = new byte[TsPacket.Size];
        var chunker = new TsChunker(Max);
        var sink = new CountingSink();
        var counter = 0;
        var write = new byte[1316];
        for (long total = 0; total < 10 * 1024 * 1024; total += write.Length)
        {
            for (var i = 0; i < write.Length; i += TsPacket.Size)
            {
                TsPacket.WriteHeader(packet, 0x100, payloadUnitStart: total == 0 && i == 0, counter++);
                packet.AsSpan(TsPacket.HeaderSize).Fill((byte)counter);
                packet.CopyTo(write, i);
            }

            chunker.Write(write, sink);
            Assert.True(chunker.BufferCapacity <= Max + (4 * TsPacket.Size));
        }

        chunker.Flush(sink);
        Assert.True(sink.MaxChunk <= chunker.MaxChunkSize);
        Assert.True(chunker.SizeCuts > 300, $"{chunker.SizeCuts} size cuts");
        Assert.Equal(0, chunker.KeyChunks);
        Assert.Equal(0, chunker.ContinuityErrors);
        Assert.Equal(chunker.Bytes, sink.Bytes);
    }

    [Fact]
    public void AShortStream_WaitsForThreeSyncBytes_ThenStartsAtTheFirstPacket()
    {
        var stream = TsFixtures.Load(TsFixtures.Mpeg1Video);
        var chunker = new TsChunker();
        var sink = new ChunkRecorder();
        chunker.Write(stream.AsSpan(0, 2 * TsPacket.Size), sink);
        chunker.Flush(sink);
        Assert.Equal(0, chunker.Packets);
        Assert.Equal(2 * TsPacket.Size, chunker.CarriedBytes);

        // One more byte, the third packet's sync byte, confirms the alignment.
        chunker.Write(stream.AsSpan(2 * TsPacket.Size, 1), sink);
        Assert.Equal(2, chunker.Packets);
        chunker.Write(stream.AsSpan((2 * TsPacket.Size) + 1), sink);
        chunker.Flush(sink);
        Assert.Equal(stream, sink.Concatenated());
        Assert.Equal(0, chunker.ResyncCount);
    }

    private static void AssertSameChunks(ChunkRecorder expected, ChunkRecorder actual, string because)
    {
        Assert.True(expected.Chunks.Count == actual.Chunks.Count, $"{because}: {actual.Chunks.Count} chunks, not {expected.Chunks.Count}");
        for (var i = 0; i < expected.Chunks.Count; i++)
        {
            Assert.True(expected.Chunks[i].IsKey == actual.Chunks[i].IsKey, $"{because}: key flag of chunk {i}");
            Assert.True(expected.Chunks[i].Packets.AsSpan().SequenceEqual(actual.Chunks[i].Packets), $"{because}: bytes of chunk {i}");
        }
    }

    private sealed class CountingSink : ITsChunkSink
    {
        public long Bytes { get; private set; }

        public int MaxChunk { get; private set; }

        public void OnChunk(ReadOnlySpan<byte> packets, bool isKey)
        {
            Assert.True(packets.Length % TsPacket.Size == 0);
            Bytes += packets.Length;
            MaxChunk = Math.Max(MaxChunk, packets.Length);
        }

        public void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets) => Assert.True(psiPackets.Length % TsPacket.Size == 0);
    }
}
