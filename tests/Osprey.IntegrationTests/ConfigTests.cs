using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>The config file and the sources API against the real server: hot reload, persistence, comments kept.</summary>
public sealed class ConfigTests : IDisposable
{
    private static readonly HttpClient s_http = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("osprey-config-").FullName;

    private string ConfigPath => Path.Combine(_dir, "osprey.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EditingTheFile_AddsChangesAndRemovesASource_WhileAnotherFeedsViewerMissesNothing_AndABrokenFileChangesNothing()
    {
        await File.WriteAllTextAsync(ConfigPath, "# the lab\nsources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n");
        await using var server = await OspreyProcess.StartAsync("stream", "--config", ConfigPath);
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/steady/raw"));
        var gaps = new List<double>();
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            var last = Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(10));
                var now = Stopwatch.GetTimestamp();
                gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                last = now;
            }
        });

        // Added: as an editor saves, a new file renamed over the old one.
        await ReplaceFileAsync("# the lab\nsources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n  extra: \"testpattern:?width=64&height=48&fps=5\"\n");
        await WaitForAsync(async () => (await FeedAsync(server, "extra")) is { } feed && feed.GetProperty("width").GetInt32() == 64);

        // Changed: that source alone restarts with its new URI.
        await ReplaceFileAsync("# the lab\nsources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n  extra: \"testpattern:?width=96&height=64&fps=5\"\n");
        await WaitForAsync(async () => (await FeedAsync(server, "extra")) is { } feed && feed.GetProperty("width").GetInt32() == 96);

        // A broken file: refused with its line, and what runs stays.
        await ReplaceFileAsync("# the lab\nsources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n  extra: [oops\n");
        await WaitForAsync(() => Task.FromResult(server.Output.Contains("not applied, the running configuration stays", StringComparison.Ordinal)));
        await ReplaceFileAsync("sources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n  extra: \"nosuch:thing\"\n");
        await WaitForAsync(() => Task.FromResult(server.Output.Contains("source 'extra'", StringComparison.Ordinal)));
        Assert.Equal(96, (await FeedAsync(server, "extra"))!.Value.GetProperty("width").GetInt32());

        // Removed.
        await ReplaceFileAsync("sources:\n  steady: \"testpattern:?width=160&height=120&fps=20\"\n");
        await WaitForAsync(async () => await FeedAsync(server, "extra") is null);

        await stop.CancelAsync();
        await watching.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(gaps.Count > 20, $"only {gaps.Count} frames of the steady feed");
        Assert.True(gaps.Skip(1).Max() < 1000, $"the steady feed's viewer waited {gaps.Skip(1).Max():0} ms for a frame across the reloads");
    }

    [Fact]
    public async Task TheSourcesApi_AddsReplacesPatchesAndDeletes_WritesTheFileKeepingItsComments_AndTheChangesSurviveARestart()
    {
        const string Original = "# cameras of the lab\nserver:\n  jpegQuality: 70  # smaller pictures\n\nsources:\n  # the door\n  door: \"testpattern:?width=160&height=120&fps=10\"\n";
        await File.WriteAllTextAsync(ConfigPath, Original);
        await using (var server = await OspreyProcess.StartAsync("stream", "--config", ConfigPath))
        {
            Assert.Equal(HttpStatusCode.Created, (await SendAsync(server, HttpMethod.Post, "api/sources", """{"name":"yard","uri":"testpattern:?width=64&height=48&fps=5"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(server, HttpMethod.Post, "api/sources", """{"name":"yard","uri":"testpattern:"}""")).StatusCode);
            var invalid = await SendAsync(server, HttpMethod.Put, "api/sources/bad", """{"uri":"nosuch:thing"}""");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.StatusCode);
            Assert.Equal("application/problem+json", invalid.Content.Headers.ContentType?.MediaType);
            Assert.Contains("nosuch", await invalid.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, (await SendAsync(server, HttpMethod.Put, "api/sources/x/raw", """{"uri":"testpattern:"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, HttpMethod.Patch, "api/sources/nosuch", """{"uri":"testpattern:"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(server, HttpMethod.Patch, "api/sources/yard", """{"uri":"testpattern:?width=96&height=64&fps=5"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await SendAsync(server, HttpMethod.Put, "api/sources/gate", """{"uri":"testpattern:?width=64&height=48&fps=5"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(server, HttpMethod.Delete, "api/sources/gate", null)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, HttpMethod.Delete, "api/sources/gate", null)).StatusCode);
            await WaitForAsync(async () => (await FeedAsync(server, "yard")) is { } feed && feed.GetProperty("width").GetInt32() == 96);
            Assert.Null(await FeedAsync(server, "gate"));

            Assert.Equal("api", (await FeedAsync(server, "yard"))!.Value.GetProperty("origin").GetString());
            Assert.Equal("config", (await FeedAsync(server, "door"))!.Value.GetProperty("origin").GetString());
            using var list = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/sources")));
            Assert.Equal(["door", "yard"], list.RootElement.EnumerateArray().Select(s => s.GetProperty("name").GetString()));
            Assert.All(list.RootElement.EnumerateArray(), s => Assert.True(s.GetProperty("persisted").GetBoolean()));
        }

        // The file: the operator's comments and layout, with yard added after door and gate gone again.
        var written = await File.ReadAllTextAsync(ConfigPath);
        Assert.Equal(Original + "  yard: \"testpattern:?width=96&height=64&fps=5\"\n", written);

        await using var restarted = await OspreyProcess.StartAsync("stream", "--config", ConfigPath);
        await WaitForAsync(async () => (await FeedAsync(restarted, "yard")) is { } feed && feed.GetProperty("width").GetInt32() == 96);
        Assert.NotNull(await FeedAsync(restarted, "door"));
    }

    [Fact]
    public async Task WithAStateFile_TheApisChangesGoThere_TheConfigFileStaysAsWritten_AndTheStateSurvivesARestart()
    {
        const string Original = "# the lab, as the operator wrote it\nsources:\n  door: \"testpattern:?width=160&height=120&fps=10\"  # the door\n  gate: \"testpattern:?width=64&height=48&fps=5\"\n";
        await File.WriteAllTextAsync(ConfigPath, Original);
        var statePath = Path.Combine(_dir, "state", "osprey-state.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(statePath)!);
        await using (var server = await OspreyProcess.StartAsync("stream", "--config", ConfigPath, "--state-file", statePath))
        {
            Assert.Equal(HttpStatusCode.Created, (await SendAsync(server, HttpMethod.Post, "api/sources", """{"name":"yard","uri":"testpattern:?width=64&height=48&fps=5"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(server, HttpMethod.Put, "api/sources/door", """{"uri":"testpattern:?width=96&height=64&fps=10"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(server, HttpMethod.Delete, "api/sources/gate", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await SendAsync(server, HttpMethod.Put, "api/sources/tmp", """{"uri":"testpattern:?width=64&height=48&fps=5"}""")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(server, HttpMethod.Delete, "api/sources/tmp", null)).StatusCode);
            await WaitForAsync(async () => (await FeedAsync(server, "door")) is { } feed && feed.GetProperty("width").GetInt32() == 96);
            Assert.Null(await FeedAsync(server, "gate"));
            Assert.Equal("api", (await FeedAsync(server, "door"))!.Value.GetProperty("origin").GetString());
            using var list = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/sources")));
            Assert.Equal([("door", "api", true), ("yard", "api", true)], list.RootElement.EnumerateArray().Select(s => (s.GetProperty("name").GetString(), s.GetProperty("origin").GetString(), s.GetProperty("persisted").GetBoolean())));

            // An edit of the file's door while the state file holds the API's door: the state wins, and the log says so.
            await ReplaceFileAsync(Original.Replace("width=160", "width=128", StringComparison.Ordinal));
            await WaitForAsync(() => Task.FromResult(server.Output.Contains($"Source door of {ConfigPath} is not applied: the state file {statePath} holds the sources API's change of it", StringComparison.Ordinal)));
            Assert.Equal(96, (await FeedAsync(server, "door"))!.Value.GetProperty("width").GetInt32());
            await ReplaceFileAsync(Original);
        }

        // The operator's file is as written; the state file has what the API did, and nothing else.
        Assert.Equal(Original, await File.ReadAllTextAsync(ConfigPath));
        var state = await File.ReadAllTextAsync(statePath);
        Assert.Contains("\"yard\": \"testpattern:?width=64&height=48&fps=5\"", state, StringComparison.Ordinal);
        Assert.Contains("\"door\": \"testpattern:?width=96&height=64&fps=10\"", state, StringComparison.Ordinal);
        Assert.Contains("removed:\n  - \"gate\"\n", state, StringComparison.Ordinal);
        Assert.DoesNotContain("tmp", state, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(statePath)!, ".*.tmp"));

        // Restarted with the state file: the API's changes are back, over the file's sources.
        await using (var restarted = await OspreyProcess.StartAsync("stream", "--config", ConfigPath, "--state-file", statePath))
        {
            await WaitForAsync(async () => (await FeedAsync(restarted, "door")) is { } door && door.GetProperty("width").GetInt32() == 96 && await FeedAsync(restarted, "yard") is not null);
            Assert.Null(await FeedAsync(restarted, "gate"));
            Assert.Equal("api", (await FeedAsync(restarted, "yard"))!.Value.GetProperty("origin").GetString());

            // Deleting the API's door falls back to nothing: the file's door was overridden, so the state records the removal.
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(restarted, HttpMethod.Delete, "api/sources/door", null)).StatusCode);
            Assert.Contains("  - \"door\"\n", await File.ReadAllTextAsync(statePath), StringComparison.Ordinal);
        }

        // And without it: the config file's sources, untouched by anything the API did.
        await using var plain = await OspreyProcess.StartAsync("stream", "--config", ConfigPath);
        await WaitForAsync(async () => (await FeedAsync(plain, "door")) is { } door && door.GetProperty("width").GetInt32() == 160 && await FeedAsync(plain, "gate") is not null);
        Assert.Null(await FeedAsync(plain, "yard"));
        Assert.Equal("config", (await FeedAsync(plain, "door"))!.Value.GetProperty("origin").GetString());
    }

    [Fact]
    public async Task ABadSourceInTheFile_StopsStartUpWithTheFileLineAndReason()
    {
        await File.WriteAllTextAsync(ConfigPath, "sources:\n  ok: \"testpattern:\"\n  broken: \"nosuch:thing\"\n");
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--port", "0", "--config", ConfigPath])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, process.ExitCode);
        Assert.Contains($"{ConfigPath}:3: source 'broken'", stderr, StringComparison.Ordinal);
    }

    private async Task ReplaceFileAsync(string text)
    {
        var temporary = ConfigPath + ".new";
        await File.WriteAllTextAsync(temporary, text);
        File.Move(temporary, ConfigPath, overwrite: true);
    }

    private static async Task<HttpResponseMessage> SendAsync(OspreyProcess server, HttpMethod method, string path, string? json)
    {
        using var request = new HttpRequestMessage(method, server.Http(path));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        var response = await s_http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task<JsonElement?> FeedAsync(OspreyProcess server, string name)
    {
        using var response = await s_http.GetAsync(server.Http($"api/feeds/{name}"));
        return response.IsSuccessStatusCode ? JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone() : null;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the condition did not come true within 15 s");
            }

            await Task.Delay(100);
        }
    }
}
