using System.Buffers.Binary;
using System.Diagnostics;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Routing;

namespace Osprey.Tests.Routing;

/// <summary>MPEG-TS frames numbered in their first 8 bytes, and waiting for what destinations do.</summary>
internal static class RelayTesting
{
    public const int FrameBytes = 7 * 188;

    /// <summary>A PAT and a PMT, as the stream header (only its bytes matter here).</summary>
    public static byte[] Psi(byte version)
    {
        var psi = new byte[2 * 188];
        psi.AsSpan().Fill(0xFF);
        psi[0] = 0x47;
        psi[1] = 0x40;
        psi[188] = 0x47;
        psi[189] = 0x50;
        psi[4] = version;
        psi[192] = version;
        return psi;
    }

    public static Feed NewFeed(string name = "x", byte headerVersion = 1)
    {
        var feed = new Feed(name) { KeepGroupOfPictures = true };
        feed.Header = new StreamHeader(headerVersion, "video/mp2t", Psi(headerVersion));
        return feed;
    }

    /// <summary>Publishes a frame carrying <paramref name="index"/> in its first 8 bytes.</summary>
    public static void Publish(Feed feed, long index, bool key = false, int bytes = FrameBytes, int headerVersion = 1)
    {
        var frame = feed.Pool.Rent(bytes);
        var span = frame.GetWritableSpan(bytes);
        span.Fill(0x47);
        BinaryPrimitives.WriteInt64LittleEndian(span, index);
        frame.Format = MediaFormat.MpegTs;
        frame.IsKeyFrame = key;
        frame.HeaderVersion = headerVersion;
        feed.Publish(frame);
    }

    public static bool IsHeader(RelayMessage message, byte version) => message.Data.AsSpan().SequenceEqual(Psi(version));

    public static DestinationStatus StatusOf(DestinationRegistry registry, string id) => registry.Status.Single(s => s.Id == id);

    public static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 5)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed.TotalSeconds > seconds)
            {
                Assert.Fail($"Timed out after {seconds} s waiting for {what}.");
            }

            await Task.Delay(5);
        }
    }
}

/// <summary>
/// Destination tests hold shutdown to a second of wall-clock time. They run on their own, after the parallel
/// classes, some of which keep pool threads busy on purpose (stress readers, fake drivers that sleep): a
/// starved pool would measure the neighbours, not the destinations.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RelayTimingCollection : ICollectionFixture<ResponsiveThreadPool>
{
    public const string Name = "Relay destinations, timed";
}

/// <summary>
/// Waits, before the timed destination tests, until the thread pool answers promptly. The test host keeps the pool's few threads
/// busy for most of the first second of a run (measured: a pool round trip of 0.8-1 s, with no Osprey code
/// running), which would blow the one-second bounds these tests hold a destination's shutdown to.
/// </summary>
public sealed class ResponsiveThreadPool : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        var watch = Stopwatch.StartNew();
        var prompt = 0;
        while (prompt < 20 && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var roundTrip = Stopwatch.StartNew();
            await Task.Run(() => { });
            prompt = roundTrip.ElapsedMilliseconds < 20 ? prompt + 1 : 0;
            await Task.Delay(5);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

/// <summary>
/// Tests that count something process-wide (active timers) or per thread across a call (allocated bytes): run after
/// the parallel classes, alone, so that the neighbours' timers and continuations are not counted as theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCountersCollection
{
    public const string Name = "Process-wide counters";
}
