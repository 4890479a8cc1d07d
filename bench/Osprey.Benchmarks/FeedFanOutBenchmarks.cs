using BenchmarkDotNet.Attributes;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Benchmarks;

/// <summary>
/// The cost of handing one published frame to N readers: publish (latch swap, release of the previous frame,
/// signals), then per reader wait, take a reference, read, release. Only the 32-byte probe header is written per
/// frame, so what is measured is the fan-out machinery, not a 600 KB memcpy. Steady state allocates nothing.
/// </summary>
/// <remarks>
/// <para><see cref="TakeReady"/>: the readers are passive; each <see cref="SignalledReader.WaitAsync"/> finds the frame
/// already there and completes synchronously (checked on every call), all on the benchmark thread.</para>
/// <para><see cref="WakeAwaiting"/>: each reader is an async loop that is parked in a pending
/// <see cref="SignalledReader.WaitAsync"/> when the frame is published, so <c>Signal</c> completes the reader's value-task
/// source and its continuation runs on the thread pool (as viewers' send loops do). The benchmark thread publishes and
/// spins (without sleeping) until all N readers have taken and released the frame and parked again. The harness is
/// a countdown field and a <see cref="SpinWait"/>: it allocates nothing, and the reader loops' state machines are
/// boxed once, in setup.</para>
/// <para><see cref="WakeOnFanOutThreads"/>: the same loops, but the readers asked to be woken from the fan-out threads
/// (<see cref="SignalledReader.SignalOnFanOutThread"/>), as direct-socket viewers do: the publish queues the feed once
/// per lane and each lane runs its readers' continuations inline, one pass, instead of one thread-pool work item
/// per reader.</para>
/// </remarks>
[MemoryDiagnoser]
public class FeedFanOutBenchmarks
{
    private const int Width = 640;
    private const int Height = 480;
    private const int FrameBytes = Width * Height * 2; // YUYV: 614,400 bytes

    private Feed _feed = null!;
    private FeedReader[] _readers = [];
    private Task[] _loops = [];
    private uint _counter;
    private int _remaining;
    private long _inlineWakes;
    private long _missedTakes;
    private long _allocatedAfterSetup;

    [Params(1, 10, 100)]
    public int Readers { get; set; }

    [GlobalSetup(Target = nameof(TakeReady))]
    public void SetupTakeReady()
    {
        CreateFeed();
        for (var i = 0; i < 8; i++)
        {
            TakeReady();
        }

        Finish();
    }

    [GlobalSetup(Target = nameof(WakeAwaiting))]
    public void SetupWakeAwaiting()
    {
        CreateFeed();

        // Each loop runs synchronously up to its first pending wait, then counts itself ready.
        Volatile.Write(ref _remaining, _readers.Length);
        _loops = new Task[_readers.Length];
        for (var i = 0; i < _readers.Length; i++)
        {
            _loops[i] = ReadLoopAsync(_readers[i]);
        }

        WaitForReaders();
        for (var i = 0; i < 8; i++)
        {
            WakeAwaiting();
        }

        Finish();
    }

    [GlobalSetup(Target = nameof(WakeOnFanOutThreads))]
    public void SetupWakeOnFanOutThreads()
    {
        CreateFeed();
        foreach (var reader in _readers)
        {
            reader.SignalOnFanOutThread();
        }

        Volatile.Write(ref _remaining, _readers.Length);
        _loops = new Task[_readers.Length];
        for (var i = 0; i < _readers.Length; i++)
        {
            _loops[i] = ReadLoopAsync(_readers[i]);
        }

        WaitForReaders();
        for (var i = 0; i < 8; i++)
        {
            WakeOnFanOutThreads();
        }

        Finish();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var allocated = _feed.Pool.Allocated;
        _feed.Dispose(); // Readers' waits complete with false and their loops end.
        foreach (var reader in _readers)
        {
            reader.Dispose();
        }

        Task.WaitAll(_loops);
        if (allocated != _allocatedAfterSetup)
        {
            Console.WriteLine($"// !! the frame pool allocated {allocated - _allocatedAfterSetup} frames after setup");
        }

        if (_inlineWakes > 0 || _missedTakes > 0)
        {
            Console.WriteLine($"// reader loops: {_inlineWakes} waits already complete when awaited, {_missedTakes} wakes with no frame to take");
        }
    }

    /// <summary>Publish one frame; each passive reader waits (synchronously complete), takes, reads and releases it.</summary>
    [Benchmark]
    public int TakeReady()
    {
        Publish();
        var sum = 0;
        foreach (var reader in _readers)
        {
            var wait = reader.WaitAsync();
            if (!wait.IsCompletedSuccessfully || !wait.Result)
            {
                ThrowNotReady();
            }

            if (!reader.TryTakeLatest(out var frame))
            {
                ThrowNotReady();
            }

            sum += frame.Span[0];
            frame.Release();
        }

        return sum;
    }

    /// <summary>Publish one frame to readers parked in a pending wait and spin until all of them took and released it.</summary>
    [Benchmark]
    public void WakeAwaiting()
    {
        Volatile.Write(ref _remaining, _readers.Length);
        Publish();
        WaitForReaders();
    }

    /// <summary>Publish one frame to lane readers parked in a pending wait and spin until all of them took and released it.</summary>
    [Benchmark]
    public void WakeOnFanOutThreads()
    {
        Volatile.Write(ref _remaining, _readers.Length);
        Publish();
        WaitForReaders();
    }

    private void CreateFeed()
    {
        _feed = new Feed("bench");
        _counter = 0;

        // Pre-warm the pool: the frames that circulate (the latched one and the next) exist with pictures in them.
        var warm = new Frame[4];
        for (var i = 0; i < warm.Length; i++)
        {
            warm[i] = _feed.Pool.Rent(FrameBytes);
            warm[i].GetWritableSpan(FrameBytes).Fill(0x80);
        }

        foreach (var frame in warm)
        {
            frame.Release();
        }

        _readers = new FeedReader[Readers];
        for (var i = 0; i < _readers.Length; i++)
        {
            _readers[i] = _feed.OpenReader(startAtLatest: false);
        }
    }

    private void Finish()
    {
        _allocatedAfterSetup = _feed.Pool.Allocated;
        if (_feed.Drops != 0)
        {
            throw new InvalidOperationException($"Readers dropped {_feed.Drops} frames during setup.");
        }
    }

    private void Publish()
    {
        var frame = _feed.Pool.Rent(FrameBytes);
        var span = frame.GetWritableSpan(FrameBytes);
        var counter = ++_counter;
        new ProbeHeader(counter, counter * 33_333L, Width, Height, FrameBytes).WriteTo(span);
        frame.Format = MediaFormat.Yuyv;
        frame.Width = Width;
        frame.Height = Height;
        _feed.Publish(frame);
    }

    private void WaitForReaders()
    {
        var spinner = default(SpinWait);
        while (Volatile.Read(ref _remaining) != 0)
        {
            spinner.SpinOnce(sleep1Threshold: -1); // Yield when it must, never sleep 1 ms.
        }
    }

    private async Task ReadLoopAsync(FeedReader reader)
    {
        var sum = 0;
        var wait = reader.WaitAsync();
        Interlocked.Decrement(ref _remaining);
        while (true)
        {
            if (wait.IsCompleted)
            {
                // The publisher's signal (or, if it came before the reader parked, the latch) was faster than us.
                Interlocked.Increment(ref _inlineWakes);
            }

            if (!await wait)
            {
                break;
            }

            if (reader.TryTakeLatest(out var frame))
            {
                sum += frame.Span[0];
                frame.Release();
            }
            else
            {
                Interlocked.Increment(ref _missedTakes);
            }

            // Park again before counting down, so that the next publish finds this reader waiting.
            wait = reader.WaitAsync();
            Interlocked.Decrement(ref _remaining);
        }

        GC.KeepAlive(sum);
    }

    private static void ThrowNotReady() =>
        throw new InvalidOperationException("A reader's wait did not complete synchronously with a frame ready.");
}
