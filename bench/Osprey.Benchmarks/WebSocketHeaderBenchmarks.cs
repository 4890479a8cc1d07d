using BenchmarkDotNet.Attributes;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Benchmarks;

/// <summary>The small per-frame header work: a WebSocket frame header and the 32-byte probe header.</summary>
[MemoryDiagnoser]
public class WebSocketHeaderBenchmarks
{
    private const int FrameBytes = 640 * 480 * 2;

    private readonly byte[] _header = new byte[WebSocketFrames.MaxServerHeaderSize];
    private byte[] _frame = null!;
    private uint _counter;

    [GlobalSetup]
    public void Setup()
    {
        _frame = GC.AllocateUninitializedArray<byte>(FrameBytes, pinned: true);
        new ProbeHeader(1, ProbeHeader.NowMicros(), 640, 480, FrameBytes).WriteTo(_frame);
    }

    [Benchmark]
    public int WriteServerHeader() => WebSocketFrames.WriteServerHeader(_header, WebSocketOpcode.Binary, FrameBytes);

    [Benchmark]
    public void ProbeHeaderWriteTo() => new ProbeHeader(++_counter, 1_700_000_000_000_000L, 640, 480, FrameBytes).WriteTo(_frame);

    [Benchmark]
    public uint ProbeHeaderTryRead() => ProbeHeader.TryRead(_frame, out var header) ? header.Counter : 0;
}
