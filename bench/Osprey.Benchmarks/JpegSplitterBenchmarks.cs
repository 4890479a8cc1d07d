using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Osprey.Containers.Jpeg;

namespace Osprey.Benchmarks;

/// <summary>
/// Splitting ffmpeg's MJPEG output: 16 MiB of concatenated real 640x480 JPEGs (testsrc2, <c>-q:v 5</c>, made once by
/// ffmpeg in setup) pushed in chunks as pipe reads deliver them. Images whole inside a chunk come out as slices;
/// about one in a few spans two chunks and is copied into the splitter's buffer. Steady state allocates nothing.
/// </summary>
/// <remarks>
/// <see cref="ScanForFf"/> is the floor: the same vectorised search for FF over the same bytes, with no parsing.
/// The GB/s column is the buffer's size over the mean time of one operation (one pass over the buffer).
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class JpegSplitterBenchmarks
{
    private const int StreamBytes = 16 * 1024 * 1024;

    private static readonly JpegImageHandler<JpegSplitterBenchmarks> s_onImage = static (self, jpeg) =>
    {
        self._images++;
        self._imageBytes += jpeg.Length;
    };

    private readonly JpegStreamSplitter _splitter = new();
    private byte[] _stream = [];
    private int _imagesPerPass;
    private long _images;
    private long _imageBytes;

    /// <summary>Bytes per push: 64 KiB is a full Linux pipe buffer; 4 KiB a page, as small reads deliver.</summary>
    [Params(4 * 1024, 64 * 1024)]
    public int ChunkSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var images = GenerateImages();
        var stream = new List<byte>(StreamBytes);
        var count = 0;
        // Whole images only, so every pass starts and ends between images and each pass yields the same count.
        for (var i = 0; stream.Count + images[i % images.Count].Length <= StreamBytes; i++)
        {
            stream.AddRange(images[i % images.Count]);
            count++;
        }

        // Exactly 16 MiB, so the GB/s column (computed from the constant, in the host process) is exact: COM
        // segments after the last image's SOI make up the rest (under one image, well under 1% of the bytes).
        var gap = StreamBytes - stream.Count;
        var last = stream.Count - images[(count - 1) % images.Count].Length;
        if (gap is > 0 and < 4)
        {
            stream.RemoveRange(last, stream.Count - last);
            count--;
            gap = StreamBytes - stream.Count;
            last = stream.Count - images[(count - 1) % images.Count].Length;
        }

        while (gap > 0)
        {
            var take = Math.Min(gap, 2 + 0xFFFF);
            take -= gap - take is > 0 and < 4 ? 4 : 0;
            var body = new byte[take];
            body[0] = 0xFF;
            body[1] = 0xFE;
            body[2] = (byte)((take - 2) >> 8);
            body[3] = (byte)(take - 2);
            stream.InsertRange(last + 2, body);
            gap -= take;
        }

        _stream = [.. stream];
        _imagesPerPass = count;
        Console.WriteLine($"// {count} images of {_stream.Length / count:N0} bytes on average in {_stream.Length:N0} bytes");
        if (_stream.Length != StreamBytes)
        {
            throw new InvalidOperationException($"The stream is {_stream.Length} bytes, not {StreamBytes}.");
        }

        // Warm up the splitter's buffer and check the split before measuring it.
        _images = 0;
        Split();
        if (_images != _imagesPerPass || _splitter.GarbageBytes != 0 || _splitter.TruncatedImages != 0)
        {
            throw new InvalidOperationException($"Split {_images} images of {_imagesPerPass}.");
        }
    }

    [Benchmark]
    public long Split()
    {
        var stream = _stream.AsSpan();
        for (var pos = 0; pos < stream.Length; pos += ChunkSize)
        {
            _splitter.Push(stream.Slice(pos, Math.Min(ChunkSize, stream.Length - pos)), this, s_onImage);
        }

        return _imageBytes;
    }

    [Benchmark]
    public int ScanForFf()
    {
        var stream = _stream.AsSpan();
        var count = 0;
        for (var pos = 0; ;)
        {
            var found = stream[pos..].IndexOf((byte)0xFF);
            if (found < 0)
            {
                return count;
            }

            count++;
            pos += found + 1;
        }
    }

    private static List<byte[]> GenerateImages()
    {
        var dir = Directory.CreateTempSubdirectory("osprey-bench-jpeg-");
        try
        {
            // One file per frame: the exact images, so the split can be checked against their count.
            var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
            foreach (var arg in new[]
            {
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30",
                "-frames:v", "90", "-c:v", "mjpeg", "-q:v", "5", "-f", "image2", Path.Combine(dir.FullName, "%03d.jpg"),
            })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start.");
            var errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"ffmpeg failed: {errors}");
            }

            return [.. dir.GetFiles("*.jpg").OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => File.ReadAllBytes(f.FullName))];
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new GigabytesPerSecondColumn());
    }

    /// <summary>Bytes per pass (the stream's size) over the mean time per operation, in GB/s (10^9 bytes).</summary>
    private sealed class GigabytesPerSecondColumn : IColumn
    {
        public string Id => nameof(GigabytesPerSecondColumn);

        public string ColumnName => "GB/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Gigabytes (10^9) of stream per second: the 16 MiB buffer over the mean time";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
            // StreamBytes / nanoseconds = bytes per ns = GB/s.
            return mean is > 0
                ? (StreamBytes / mean.Value).ToString("0.00", CultureInfo.InvariantCulture)
                : "-";
        }

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
