using Osprey.IntegrationTests.Infrastructure;
using Osprey.LoadTest;

namespace Osprey.IntegrationTests;

public class LoadToolTests
{
    [Fact]
    public async Task LoadTool_MeasuresTheRealServer_FpsLatencyAndServerCost()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        var report = await LoadRunner.RunAsync(
            new LoadOptions
            {
                Url = server.Ws("ws/cam/raw"),
                Viewers = 5,
                StalledViewers = 1,
                Duration = TimeSpan.FromSeconds(3),
                Warmup = TimeSpan.FromSeconds(0.5),
                ServerPid = server.Pid,
            },
            CancellationToken.None);

        Assert.Equal(5, report.ViewersConnected);
        Assert.Equal(0, report.ConnectionErrors);
        Assert.Equal(0, report.Torn);
        Assert.Equal(0, report.OutOfOrder);
        Assert.Equal(320 * 240 * 2, report.FramePayloadBytes);
        Assert.InRange(report.Fps.Median, 20, 35);
        Assert.True(report.Latency.Samples > 0);
        Assert.NotNull(report.Server);
        Assert.True(report.Server!.PeakRssMegabytes > 0);
        Assert.True(report.Server.CpuSeconds > 0);
        Assert.True(report.StalledViewers.All(s => s.StillConnected));
    }
}
