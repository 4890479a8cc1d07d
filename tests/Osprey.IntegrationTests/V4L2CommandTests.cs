using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>`osprey devices`, a v4l2: source whose device is missing, and the controls API's errors (no camera needed).</summary>
public class V4L2CommandTests
{
    [Fact]
    public async Task Devices_ListsCamerasOrSaysThereAreNone_AndExitsZero()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "osprey.dll"));
        start.ArgumentList.Add("devices");
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        if (Directory.EnumerateFileSystemEntries("/dev", "video*").Any())
        {
            Assert.Contains("/dev/video", output, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("No V4L2 devices: there is no /dev/video* on this machine", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AMissingDevice_LeavesTheFeedWaiting_AndControlsAnswerWithClearErrors()
    {
        const string Missing = "/dev/video-osprey-test-missing";
        await using var osprey = await OspreyProcess.StartAsync("--source", $"cam=v4l2://{Missing}?format=mjpeg", "--source", "test=testpattern:");
        using var http = new HttpClient();
        JsonElement feed = default;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            feed = await http.GetFromJsonAsync<JsonElement>(osprey.Http("/api/feeds/cam"));
            if (feed.GetProperty("state").GetString() == "waiting")
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal("waiting", feed.GetProperty("state").GetString());
        Assert.Equal($"waiting for device {Missing}", feed.GetProperty("stateDetail").GetString());
        Assert.Equal("jpeg", feed.GetProperty("format").GetString());
        Assert.Contains("waiting for the device to appear", osprey.Output, StringComparison.Ordinal);

        var notOpen = await http.GetAsync(osprey.Http("/api/feeds/cam/controls"));
        Assert.Equal(HttpStatusCode.Conflict, notOpen.StatusCode);
        Assert.Contains("is not open", await notOpen.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var notCamera = await http.PutAsJsonAsync(osprey.Http("/api/feeds/test/controls/brightness"), new { value = 1 });
        Assert.Equal(HttpStatusCode.Conflict, notCamera.StatusCode);
        Assert.Contains("not a V4L2 camera", await notCamera.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var unknown = await http.GetAsync(osprey.Http("/api/feeds/nope/controls"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        var badBody = await http.PutAsync(osprey.Http("/api/feeds/cam/controls/brightness"), new StringContent("{\"value\":\"x\"}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);

        // A body that is not JSON by its type is refused before it is read (no CSRF by text/plain or form posts).
        var plain = await http.PutAsync(osprey.Http("/api/feeds/cam/controls/brightness"), new StringContent("{\"value\":1}"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
    }
}
