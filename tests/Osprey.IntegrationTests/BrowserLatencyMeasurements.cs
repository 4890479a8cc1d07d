using System.Globalization;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Osprey.IntegrationTests;

/// <summary>
/// A measurement, not a test of a limit (docs/benchmarks.md, "H.264 in the browser"): the page's own players in
/// headless Chromium, sampled every 100 ms for 20 s, for the default raw test feed encoded by
/// Osprey. The MSE view's distance behind its buffer's live edge and its probe latency (capture time in the
/// sample to the frame presented, from requestVideoFrameCallback), and the WebCodecs view's latency (capture time
/// in the chunk's timestamp to the frame drawn). Writes the percentiles to the test output and to
/// artifacts/browser-latency.tsv. Run apart: <c>OSPREY_TEST_FILTER="FullyQualifiedName~BrowserLatency" ./test.sh</c>.
/// </summary>
[Trait("Run", "Apart")]
[Collection(ChromiumAlone.Name)]
public sealed class BrowserLatencyMeasurements(Browser browser, ITestOutputHelper output)
{
    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("mp4")]
    [InlineData("webcodecs")]
    public async Task PlayersLatency_IsSampledForTwentySeconds_AndRecorded(string view)
    {
        await using var server = await OspreyProcess.StartAsync();
        var page = await browser.Instance.NewPageAsync();
        try
        {
            await page.GotoAsync(server.Http($"/feeds.html?view=test:{view}").ToString());
            await page.WaitForFunctionAsync("() => window.osprey?.players?.test?.latencyMs != null", null, new() { Timeout = 30_000 });
            await page.WaitForTimeoutAsync(2000); // past the start: the figure is for playing on

            var latency = new List<double>();
            var behind = new List<double>();
            var framesBefore = await page.EvaluateAsync<int>("() => window.osprey.players.test.frames");
            var end = DateTime.UtcNow + s_window;
            while (DateTime.UtcNow < end)
            {
                var sample = await page.EvaluateAsync<JsonElement>("() => { const s = window.osprey.players.test; return { l: s.latencyMs, b: s.behindLiveEdge ?? null }; }");
                if (sample.GetProperty("l").ValueKind == JsonValueKind.Number)
                {
                    latency.Add(sample.GetProperty("l").GetDouble());
                }

                if (sample.GetProperty("b").ValueKind == JsonValueKind.Number)
                {
                    behind.Add(sample.GetProperty("b").GetDouble() * 1000);
                }

                await Task.Delay(100);
            }

            var frames = await page.EvaluateAsync<int>("() => window.osprey.players.test.frames") - framesBefore;
            var fps = frames / s_window.TotalSeconds;
            Assert.True(latency.Count > 100, $"{view}: only {latency.Count} latency samples");
            Assert.True(frames > 0, $"{view}: no frame shown in {s_window.TotalSeconds} s");

            var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{view}\t{fps:F1} fps\tlatency p50/p95/p99/max ms\t{Percentiles(latency)}"));
            if (behind.Count > 0)
            {
                line.Append(CultureInfo.InvariantCulture, $"\tbehind live edge p50/p95/p99/max ms\t{Percentiles(behind)}");
            }

            output.WriteLine(line.ToString());
            var artifacts = Path.Combine(RepositoryRoot(), "artifacts");
            Directory.CreateDirectory(artifacts);
            await File.AppendAllTextAsync(Path.Combine(artifacts, "browser-latency.tsv"), $"{DateTime.UtcNow:O}\t{line}\n");
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    private static string Percentiles(List<double> values)
    {
        var sorted = values.Order().ToArray();
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return string.Create(CultureInfo.InvariantCulture, $"{At(0.50):F0} / {At(0.95):F0} / {At(0.99):F0} / {sorted[^1]:F0}");
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Osprey.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? Directory.GetCurrentDirectory();
    }
}
