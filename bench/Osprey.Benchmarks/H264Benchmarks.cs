using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;

namespace Osprey.Benchmarks;

/// <summary>
/// H.264 per frame: the Annex B split and fMP4 mux of one 1080p IDR access unit (testsrc2, libx264 <c>-crf 4</c>,
/// about 105 KB, made by ffmpeg in setup), and the access-unit assembler's throughput on the whole 30-frame stream
/// (about 2.6 MB) pushed in 64 KiB pipe reads. None of them allocates.
/// </summary>
/// <remarks>
/// <see cref="CopyAccessUnit"/> is the floor for the mux: one copy of the access unit's bytes, which the segment
/// must contain. <see cref="SplitNalUnits"/> is the NAL-unit scan alone; the mux does it twice (once to size the
/// segment exactly, once to write it) in <see cref="SizeThenMuxAccessUnit"/>, once in <see cref="MuxAccessUnit"/>,
/// which sizes its buffer with <see cref="Fmp4Writer.GetMaxMediaSegmentSize"/>.
/// </remarks>
[MemoryDiagnoser]
public class H264Benchmarks
{
    private const int ChunkSize = 64 * 1024;

    private static readonly AccessUnitHandler<H264Benchmarks> s_onAccessUnit = static (self, au, key) => self._auBytes += au.Length;

    private readonly AccessUnitAssembler _assembler = new();
    private byte[] _stream = [];
    private byte[] _idr = [];
    private byte[] _segment = [];
    private byte[] _copy = [];
    private long _auBytes;

    [GlobalSetup]
    public void Setup()
    {
        _stream = Encode();
        var aus = new List<byte[]>();
        var assembler = new AccessUnitAssembler();
        assembler.Push(_stream, aus, static (list, au, key) => list.Add(au.ToArray()));
        assembler.Flush(aus, static (list, au, key) => list.Add(au.ToArray()));
        if (aus.Count != 30)
        {
            throw new InvalidOperationException($"Assembled {aus.Count} access units, not 30.");
        }

        _idr = aus[0];
        _segment = new byte[Fmp4Writer.GetMaxMediaSegmentSize(_idr.Length)];
        _copy = new byte[_idr.Length];
        Console.WriteLine($"// IDR access unit {_idr.Length:N0} bytes, stream {_stream.Length:N0} bytes");

        // Warm the assembler's buffer: steady state.
        AssembleStream();
    }

    [Benchmark(Baseline = true)]
    public int CopyAccessUnit()
    {
        _idr.CopyTo(_copy, 0);
        return _copy.Length;
    }

    [Benchmark]
    public int SplitNalUnits()
    {
        var count = 0;
        foreach (var nal in AnnexB.EnumerateNalUnits(_idr))
        {
            count += nal.Length;
        }

        return count;
    }

    /// <summary>What a feed does once per frame for all its viewers: write the segment into a buffer sized by the bound.</summary>
    [Benchmark]
    public int MuxAccessUnit() => Fmp4Writer.WriteMediaSegment(_segment, _idr, 1, 0, 3000, isKeyFrame: true);

    /// <summary>The same with the exact size computed first: a second scan of the access unit.</summary>
    [Benchmark]
    public int SizeThenMuxAccessUnit()
    {
        var size = Fmp4Writer.GetMediaSegmentSize(_idr);
        return Fmp4Writer.WriteMediaSegment(_segment.AsSpan(0, size), _idr, 1, 0, 3000, isKeyFrame: true);
    }

    [Benchmark]
    public long AssembleStream()
    {
        var stream = _stream.AsSpan();
        for (var pos = 0; pos < stream.Length; pos += ChunkSize)
        {
            _assembler.Push(stream.Slice(pos, Math.Min(ChunkSize, stream.Length - pos)), this, s_onAccessUnit);
        }

        _assembler.Flush(this, s_onAccessUnit);
        return _auBytes;
    }

    private static byte[] Encode()
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
            "-frames:v", "30", "-c:v", "libx264", "-profile:v", "high", "-g", "10", "-bf", "0", "-crf", "4",
            "-f", "h264", "pipe:1",
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start.");
        var errors = process.StandardError.ReadToEndAsync();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed: {errors.Result}");
        }

        return output.ToArray();
    }
}
