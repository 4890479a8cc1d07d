using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary><c>/snapshot/{feed}.jpg?max-age=s</c>, what the dashboard's thumbnails ask for once a second.</summary>
public sealed class SnapshotThumbnailTests
{
    [Fact]
    public async Task SnapshotWithMaxAge_ServesOneJpegToEveryThumbnail_AndCostsOneEncodeNotOneEach()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var url = server.Http("snapshot/cam.jpg?max-age=10");

        // Ten thumbnails asking within the age get the same bytes, taken once.
        var first = await http.GetByteArrayAsync(url);
        var encodedBefore = await EncodedFramesAsync(http, server);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(first, await http.GetByteArrayAsync(url));
        }

        // (A frame the first request's run was encoding as it stopped may still be counted.)
        var afterCached = await EncodedFramesAsync(http, server);
        Assert.InRange(afterCached, encodedBefore, encodedBefore + 2);

        // Without max-age each snapshot is a new frame (the encoder runs for each request).
        var fresh = await http.GetByteArrayAsync(server.Http("snapshot/cam.jpg"));
        Assert.NotEqual(first, fresh);
        Assert.True(await EncodedFramesAsync(http, server) > afterCached);

        // A max-age that is not a positive number is no cache at all; a huge one is capped (10 s), never an error.
        Assert.NotEqual(fresh, await http.GetByteArrayAsync(server.Http("snapshot/cam.jpg?max-age=nonsense")));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(server.Http("snapshot/cam.jpg?max-age=1e308"))).StatusCode);
    }

    private static async Task<long> EncodedFramesAsync(HttpClient http, OspreyProcess server)
    {
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        return feed.RootElement.GetProperty("jpeg").GetProperty("encodedFrames").GetInt64();
    }
}
