using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.LoadTest;

namespace Osprey.IntegrationTests;

/// <summary>
/// nginx (the Debian package; test.sh installs it) with docs/nginx-hls-edge.conf in front of the real server on
/// loopback, and simulated LL-HLS clients of the load tool behind it: every client gets the parts, and the
/// origin sees about one request per part, not one per client.
/// </summary>
// Run apart (OSPREY_TEST_FILTER=Run=Apart ./test.sh): it hung the suite once on a loaded machine, with no connection
// open to nginx or Osprey, and is not yet understood (issue 18); 200 clients through nginx is a load run besides.
[Trait("Run", "Apart")]
public sealed class HlsEdgeTests
{
    private const string Nginx = "/usr/sbin/nginx";

    [Fact]
    public async Task Nginx_CoalescesLowLatencyHls_SoTheOriginSeesAboutOneRequestPerPart_WhileEveryClientGetsThem()
    {
        Assert.True(File.Exists(Nginx), "nginx is not installed (test.sh installs the Debian package)");
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        var dir = Directory.CreateTempSubdirectory("osprey-edge-");
        try
        {
            var port = FreePort();
            var conf = (await File.ReadAllTextAsync(Path.Combine(RepoRoot(), "docs", "nginx-hls-edge.conf")))
                .Replace("server 127.0.0.1:8080;", $"server 127.0.0.1:{server.BaseUri.Port};", StringComparison.Ordinal)
                .Replace("listen 8090;", $"listen 127.0.0.1:{port};", StringComparison.Ordinal)
                .Replace("worker_processes auto;", "worker_processes 1;\nuser root;", StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{port}", conf, StringComparison.Ordinal);
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "nginx.conf"), conf);
            using var nginx = Process.Start(new ProcessStartInfo(Nginx, ["-p", dir.FullName + "/", "-c", "nginx.conf", "-g", "daemon off;"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
                var edge = new Uri($"http://127.0.0.1:{port}/hls/cam/");
                await WaitForAsync(async () => (await http.GetAsync(new Uri(edge, "index.m3u8"))).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), nginx);

                var before = await OriginCountsAsync(http, server);
                const int Clients = 200;
                // Bounded whatever the edge does: the clients stop at their duration, and at the latest here.
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                var report = await HlsLoadRunner.RunAsync(
                    new HlsLoadOptions { Playlist = new Uri(edge, "media.m3u8"), Clients = Clients, Duration = TimeSpan.FromSeconds(8), Ramp = TimeSpan.FromSeconds(2) },
                    bound.Token);
                var after = await OriginCountsAsync(http, server);

                var partsMade = after.PartsMade - before.PartsMade;
                var originParts = after.PartRequests - before.PartRequests;
                var originPlaylists = after.BlockingPlaylistRequests - before.BlockingPlaylistRequests;
                var what = $"{report.Clients} clients: {report.Parts} parts, {report.MissedParts} missed, {report.Stalls} stalls, {report.Errors} errors, delay p50 {report.DelayP50:0.000} p95 {report.DelayP95:0.000}; origin: {partsMade} parts made, {originParts} part requests, {originPlaylists} blocking playlist requests";
                Assert.Equal(Clients, report.ClientsPlaying);
                // Every client follows the live edge: about as many parts as were made while it ran (ramp and
                // machine load allowed for), and none of the listed parts is lost.
                Assert.True(report.Parts >= (long)(Clients * partsMade * 0.6), what);
                Assert.True(report.MissedParts <= report.Parts / 100, what);
                // Coalescing: the origin answered about one request per part (and per blocking playlist), far
                // from one per client; a few keys miss the lock's window or expire and are asked again.
                Assert.True(originParts <= (partsMade * 3) + 10, what);
                Assert.True(originPlaylists <= (partsMade * 4) + 10, what);
                Assert.True(report.Parts > originParts * 20, what);
            }
            finally
            {
                nginx.Kill();
                await nginx.WaitForExitAsync();
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<(long PartsMade, long PartRequests, long BlockingPlaylistRequests)> OriginCountsAsync(HttpClient http, OspreyProcess server)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/hls")));
        var stream = document.RootElement.EnumerateArray().Single();
        return (stream.GetProperty("partsMade").GetInt64(), stream.GetProperty("partRequests").GetInt64(), stream.GetProperty("blockingPlaylistRequests").GetInt64());
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, Process nginx)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            Assert.False(nginx.HasExited, "nginx exited: " + await nginx.StandardError.ReadToEndAsync());
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250);
        }

        Assert.Fail($"not ready within {timeout}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Osprey.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
