using System.Net.Http.Json;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// The config file's other sections against the real server: limits and TLS applied at start under flags and
/// variables, a changed one logged as needing a restart; vw streams and destinations applied at start and, on a
/// change of the file, only what changed (with a real relay and real viewers).
/// </summary>
public sealed class ConfigFileSectionsTests : IDisposable
{
    private static readonly HttpClient s_http = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("osprey-sections-").FullName;

    private string ConfigPath => Path.Combine(_dir, "osprey.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task LimitsAndTlsFromTheFile_ApplyAtStart_UnderVariablesAndFlags_AndAChangeIsLoggedAsNeedingARestart()
    {
        using var certificate = TestCertificate.Create();
        Directory.CreateDirectory(Path.Combine(_dir, "tls"));
        File.Copy(certificate.CertFile, Path.Combine(_dir, "tls", "cert.pem"));
        File.Copy(certificate.KeyFile, Path.Combine(_dir, "tls", "key.pem"));
        const string Config = """
            sources:
              cam: "testpattern:?width=64&height=48&fps=10"
            tls:                      # relative to this file's folder
              cert: tls/cert.pem
              key: tls/key.pem
            limits:
              maxViewersPerFeed: 2
              maxFeeds: 3
              maxStreams: 4
            """;
        await File.WriteAllTextAsync(ConfigPath, Config);

        // From an unrelated working directory: the file's names are its folder's.
        await using var server = await OspreyProcess.StartWithEnvironmentAsync(
            new Dictionary<string, string> { ["OSPREY_MAX_STREAMS"] = "5", ["OSPREY_MAX_FEEDS"] = "9" },
            "stream", "--config", ConfigPath, "--max-feeds", "6");
        Assert.Equal("https", server.BaseUri.Scheme);
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => certificate.Validate(presented);
        using var https = new HttpClient(handler);

        // The file's per-feed cap, the variable's stream cap (over the file's), the flag's feed cap (over both).
        var relay = await https.GetStringAsync(server.Http("api/relay"));
        Assert.Matches("\"viewers\":\\{\"max\":300,\"now\":0,\"refused\":0,\"maxPerFeed\":2\\}", relay);
        Assert.Matches("\"streams\":\\{\"max\":5,", relay);
        Assert.Matches("\"feeds\":\\{\"max\":6,", relay);
        using (var first = await https.GetAsync(server.Http("mjpeg/cam"), HttpCompletionOption.ResponseHeadersRead))
        using (var second = await https.GetAsync(server.Http("mjpeg/cam"), HttpCompletionOption.ResponseHeadersRead))
        using (var third = await https.GetAsync(server.Http("mjpeg/cam"), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal((System.Net.HttpStatusCode.OK, System.Net.HttpStatusCode.OK, System.Net.HttpStatusCode.ServiceUnavailable), (first.StatusCode, second.StatusCode, third.StatusCode));
        }

        // A changed limit waits for a restart, and says so; one the flag overrides has no effect, and says so.
        await ReplaceFileAsync(Config.Replace("maxViewersPerFeed: 2", "maxViewersPerFeed: 3", StringComparison.Ordinal).Replace("maxFeeds: 3", "maxFeeds: 8", StringComparison.Ordinal)
            .Replace("key: tls/key.pem", "key: tls/other-key.pem", StringComparison.Ordinal));
        await WaitForAsync(() => server.Output.Contains("limits.maxViewersPerFeed changed (2 -> 3); it is read at start: restart Osprey to apply it", StringComparison.Ordinal));
        await WaitForAsync(() => server.Output.Contains("limits.maxFeeds changed in the file, but --max-feeds wins over it: no effect", StringComparison.Ordinal));
        Assert.Contains("tls.key changed", server.Output, StringComparison.Ordinal);
        Assert.Contains("the certificate and key files themselves are reloaded whenever they change", server.Output, StringComparison.Ordinal);
        Assert.Matches("\"maxPerFeed\":2\\}", await https.GetStringAsync(server.Http("api/relay")));

        // A value the flag's rule refuses: the whole file is refused, with its line and the rule.
        await ReplaceFileAsync(Config.Replace("maxStreams: 4", "maxStreams: lots\n  maxViewers: 9", StringComparison.Ordinal));
        await WaitForAsync(() => server.Output.Contains($"not applied, the running configuration stays: {ConfigPath}:9: limits.maxStreams 'lots' is not a number from 1 to 100000.", StringComparison.Ordinal));
        Assert.DoesNotContain("limits.maxViewers changed", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VwStreamsAndDestinationsFromTheFile_StartWithTheServer_AndAnEditAppliesOnlyWhatChanged_WhileTheUnchangedStreamsViewersAndRelayMissNothing()
    {
        await using var relay = await OspreyProcess.StartAsync("relay");
        string Config(string otherFeeds, string extraStream, string extraDestination) => $$"""
            # vw's rules, kept in the file
            limits:
              allowDestinations: [127.0.0.1]
            streams:
              steady: [video0]
            {{otherFeeds}}{{extraStream}}
            destinations:
              out:
                stream: steady
                destination: "{{relay.Ws("in/steady")}}"
            {{extraDestination}}
            """;
        await File.WriteAllTextAsync(ConfigPath, Config("  other: [video0]\n", "", ""));
        await using var vw = await OspreyProcess.StartAsync("stream", "--config", ConfigPath);
        await using var video = Ffmpeg.PublishVideo(vw.Http("ts/video0"));
        await TsIngestTests.WaitForFeedAsync(vw, "video0");
        await TsIngestTests.WaitForFeedAsync(relay, "steady");
        Assert.Equal("""["video0"]""", await GetAsync(vw, "api/streams/steady"));
        Assert.Equal("""["video0"]""", await GetAsync(vw, "api/streams/other"));

        using var vwViewer = await TsViewer.ConnectAsync(vw.Ws("ws/steady"));
        using var relayViewer = await TsViewer.ConnectAsync(relay.Ws("out/steady"));
        Assert.True(await vwViewer.ReceiveUntilAsync(v => v.ByteCount > 50_000, TimeSpan.FromSeconds(20)), video.Errors);
        Assert.True(await relayViewer.ReceiveUntilAsync(v => v.ByteCount > 50_000, TimeSpan.FromSeconds(20)), vw.Output);
        var sentBefore = (await DestinationAsync(vw, "out")).GetProperty("messagesSent").GetInt64();

        // Both viewers read without pause while the file changes three times.
        using var stop = new CancellationTokenSource();
        var watching = Task.WhenAll(
            vwViewer.ReceiveUntilAsync(_ => stop.IsCancellationRequested, TimeSpan.FromSeconds(90)),
            relayViewer.ReceiveUntilAsync(_ => stop.IsCancellationRequested, TimeSpan.FromSeconds(90)));
        var from = DateTime.UtcNow;

        // Changed, added: 'other' is re-wired, 'third' and the destination 'more' are new.
        await ReplaceFileAsync(Config("  other: [video0, audio0]\n", "  third: [video0]\n", $"  more: {{ stream: third, destination: \"{relay.Ws("in/third")}\" }}\n"));
        await WaitForAsync(async () => await GetAsync(vw, "api/streams/other") == """["video0","audio0"]""" && await GetAsync(vw, "api/streams/third") == """["video0"]""");
        await TsIngestTests.WaitForFeedAsync(relay, "third");

        // Removed: 'other' and 'more' go; the relay's feed 'third' loses its publisher.
        await ReplaceFileAsync(Config("", "  third: [video0]\n", ""));
        await WaitForAsync(async () => (await SendAsync(vw, "api/streams/other")).StatusCode == System.Net.HttpStatusCode.NotFound);
        await WaitForAsync(async () => (await JsonAsync(vw, "api/relay")).GetProperty("destinations").EnumerateArray().All(d => d.GetProperty("id").GetString() != "more"));

        // A broken rule: refused with its line, nothing changes.
        await ReplaceFileAsync(Config("", "  third: [video0]\n", "  bad: { stream: third, destination: \"http://127.0.0.1:9/in/x\" }\n"));
        await WaitForAsync(() => vw.Output.Contains("not applied, the running configuration stays", StringComparison.Ordinal) && vw.Output.Contains("destination 'http://127.0.0.1:9/in/x' is not a ws:// or wss:// URL", StringComparison.Ordinal));
        Assert.Equal("""["video0"]""", await GetAsync(vw, "api/streams/third"));

        await Task.Delay(1500);
        await stop.CancelAsync();
        await watching;

        foreach (var (viewer, where) in new[] { (vwViewer, "Osprey's /ws/steady"), (relayViewer, "the relay's /out/steady") })
        {
            var times = viewer.Times.Where(t => t >= from).ToList();
            Assert.True(times.Count > 20, $"{where}: only {times.Count} messages across the edits");
            var gap = times.Zip(times.Skip(1), (a, b) => (b - a).TotalMilliseconds).Max();
            Assert.True(gap < 1500, $"{where} waited {gap:0} ms for a message across the edits");
        }

        // The unchanged destination kept its one connection: never replaced (its count goes on), never redialled.
        var destination = await DestinationAsync(vw, "out");
        Assert.Equal("connected", destination.GetProperty("state").GetString());
        Assert.Equal(0, destination.GetProperty("reconnects").GetInt64());
        Assert.True(destination.GetProperty("messagesSent").GetInt64() > sentBefore);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(vw.Output, "Destination out: connected"));
        Assert.Contains("vw destination more removed (no longer in the file)", vw.Output, StringComparison.Ordinal);
        Assert.False(video.HasExited, video.Errors);
    }

    private async Task ReplaceFileAsync(string text)
    {
        // As an editor saves: a new file renamed over the old one.
        var temporary = ConfigPath + ".new";
        await File.WriteAllTextAsync(temporary, text);
        File.Move(temporary, ConfigPath, overwrite: true);
    }

    private static async Task<HttpResponseMessage> SendAsync(OspreyProcess server, string path)
    {
        var response = await s_http.GetAsync(server.Http(path));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task<string?> GetAsync(OspreyProcess server, string path)
    {
        using var response = await SendAsync(server, path);
        return response.IsSuccessStatusCode ? (await response.Content.ReadAsStringAsync()).Trim() : null;
    }

    private static async Task<JsonElement> JsonAsync(OspreyProcess server, string path) =>
        await s_http.GetFromJsonAsync<JsonElement>(server.Http(path));

    private static async Task<JsonElement> DestinationAsync(OspreyProcess server, string id) =>
        (await JsonAsync(server, "api/relay")).GetProperty("destinations").EnumerateArray().Single(d => d.GetProperty("id").GetString() == id);

    private static Task WaitForAsync(Func<bool> condition) => WaitForAsync(() => Task.FromResult(condition()));

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the condition did not come true within 20 s");
            }

            await Task.Delay(100);
        }
    }
}
