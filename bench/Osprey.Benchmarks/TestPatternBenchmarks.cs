using BenchmarkDotNet.Attributes;
using Osprey.Sources.TestPattern;

namespace Osprey.Benchmarks;

/// <summary>Cost of drawing one 640x480 YUYV test-pattern frame (about one 600 KB memcpy); allocates nothing.</summary>
[MemoryDiagnoser]
public class TestPatternBenchmarks
{
    private TestPatternGenerator _generator = null!;
    private byte[] _frame = null!;
    private uint _counter;

    [GlobalSetup]
    public void Setup()
    {
        _generator = new TestPatternGenerator(640, 480);
        // Pinned like a pooled Frame's buffer, so the destination behaves as in the server.
        _frame = GC.AllocateUninitializedArray<byte>(_generator.FrameSize, pinned: true);
        _counter = 0;
    }

    [Benchmark]
    public void Draw640x480()
    {
        var counter = ++_counter;
        _generator.Draw(_frame, counter, counter * 33_333L);
    }
}
