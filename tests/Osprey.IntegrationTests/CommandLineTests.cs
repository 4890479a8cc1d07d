using System.Net;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>Start-up as a user sees it: the real process, its exit code and its one-line messages.</summary>
public class CommandLineTests
{
    [Fact]
    public async Task StreamMode_StartsWithNoFeeds()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        using var http = new HttpClient();
        using var feeds = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds")));
        Assert.Equal(0, feeds.RootElement.GetArrayLength());
        Assert.Contains("No sources configured", server.Output);
    }

    [Fact]
    public async Task ABadSourceUri_StopsStartUpWithExitCode2AndAMessage()
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--port", "0", "--source", "cam=nosuch:thing"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("unknown scheme 'nosuch'", stderr);
    }

    [Fact]
    public async Task APortInUse_IsSaidInOneLine_AndExitsWith1()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var output = await stdout + stderr;
        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"127.0.0.1:{port}", stderr, StringComparison.Ordinal);
        Assert.Contains("already in use", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith("osprey:", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }
}
