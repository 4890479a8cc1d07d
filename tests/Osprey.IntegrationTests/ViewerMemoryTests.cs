using System.Diagnostics;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>What a stalled viewer may hold: a byte budget, not a frame count; and everything back when it leaves.</summary>
[Trait("Needs", "Process")]
public class ViewerMemoryTests
{
    [Fact]
    public async Task StalledViewersOfARawFeed_HoldAFewMiB_NotTheirFrameQueues_AndGiveTheFramesBackWhenTheyLeave()
    {
        // No send timeout: the stalled viewers stay for the whole measurement, their queues bounded only by bytes.
        await using var server = await OspreyProcess.StartAsync("--send-timeout", "0", "--viewer-queue-mib", "4", "--source", "test=testpattern:?width=640&height=480&fps=30");
        using var http = new HttpClient();
        await Task.Delay(1500); // the pool and the JIT warm up
        var baselineHeld = await FramesHeldAsync(http, server);
        var baselineRss = VmRssBytes(server.Pid);

        // /out/ on a raw feed is an ordered (stream) reader: 2,048 frames of 614,400 bytes before its byte bound.
        var stalledOut = await RawSocketViewer.ConnectAsync(server.BaseUri, "/out/test", receiveBuffer: 4096);
        var stalledRaw = await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/test/raw", receiveBuffer: 4096);
        long peakRss = 0, peakHeld = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(6)) // 180 frames, 110 MB published meanwhile
        {
            peakRss = Math.Max(peakRss, VmRssBytes(server.Pid));
            peakHeld = Math.Max(peakHeld, await FramesHeldAsync(http, server));
            await Task.Delay(250);
        }

        // 4 MiB of queue (6 frames), the frame in the pending send, the latched one and the raw viewer's one.
        Assert.True(peakHeld <= baselineHeld + 10, $"frames held went from {baselineHeld} to {peakHeld}");
        Assert.True(peakRss - baselineRss < 64L * 1024 * 1024, $"RSS grew by {(peakRss - baselineRss) / (1024 * 1024)} MiB (from {baselineRss / (1024 * 1024)} MiB)");
        using (var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test"))))
        {
            Assert.True(feed.RootElement.GetProperty("drops").GetInt64() > 0, "the stalled stream viewer skipped nothing");
        }

        stalledOut.Dispose();
        stalledRaw.Dispose();
        var back = Stopwatch.StartNew();
        long held;
        while ((held = await FramesHeldAsync(http, server)) > baselineHeld && back.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
        }

        Assert.True(held <= baselineHeld, $"frames held {held} after the viewers left, {baselineHeld} before they came");
    }

    [Fact]
    public async Task ADestinationWhoseRelayStopsReading_HoldsItsByteBound_IsDroppedAfterTheSendTimeout_AndSaysSo()
    {
        // Issue 13, finding 3: a destination of a raw feed to a relay that accepted and never read queued 2,048 frames
        // of 614,400 bytes (RSS +300 MB and climbing). Now: the viewers' byte bound, and the send timeout.
        using var hole = new BlackHoleRelay();
        await using var server = await OspreyProcess.StartAsync(
            "--send-timeout", "3", "--viewer-queue-mib", "4", "--allow-destination", "127.0.0.1", "--source", "test=testpattern:?width=640&height=480&fps=30");
        using var http = new HttpClient();
        await Task.Delay(1500);
        var baselineHeld = await FramesHeldAsync(http, server);
        var baselineRss = VmRssBytes(server.Pid);
        var added = await VwApiTests.SendAsync(server, "POST", "api/destinations", $$"""{"id":"hole","stream":"test","destination":"ws://127.0.0.1:{{hole.Port}}/in/test"}""");
        Assert.Equal(System.Net.HttpStatusCode.OK, added.Status);

        long peakRss = 0, peakHeld = 0;
        string? lastError = null;
        long timeouts = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20) && (timeouts == 0 || lastError is null))
        {
            peakRss = Math.Max(peakRss, VmRssBytes(server.Pid));
            peakHeld = Math.Max(peakHeld, await FramesHeldAsync(http, server));
            using var relay = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/relay")));
            var destination = relay.RootElement.GetProperty("destinations")[0];
            timeouts = destination.GetProperty("sendTimeouts").GetInt64();
            lastError = destination.GetProperty("lastError").GetString();
            await Task.Delay(250);
        }

        Assert.True(timeouts >= 1, $"{timeouts} send timeouts");
        Assert.Equal("the relay took nothing for 3 s (send timeout)", lastError);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(3), $"dropped after {watch.Elapsed}");
        // 4 MiB of queue (6 frames), the frame in the stuck send, the latched one.
        Assert.True(peakHeld <= baselineHeld + 10, $"frames held went from {baselineHeld} to {peakHeld}");
        Assert.True(peakRss - baselineRss < 64L * 1024 * 1024, $"RSS grew by {(peakRss - baselineRss) / (1024 * 1024)} MiB");
        Assert.True(hole.Connections >= 1);
    }

    private static async Task<long> FramesHeldAsync(HttpClient http, OspreyProcess server)
    {
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test")));
        return feed.RootElement.GetProperty("framesHeld").GetInt64();
    }

    private static long VmRssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS in /proc/{pid}/status");
    }
}
