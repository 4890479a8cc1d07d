using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary><c>GET /metrics</c> scraped from the real server with viewers attached, read by a strict parser.</summary>
public partial class MetricsTests
{
    [Fact]
    public async Task Metrics_AreValidPrometheusText_AndAgreeWithTheFeedApi_WithViewersAttached()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=320&height=240&fps=30");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var sockets = new List<ClientWebSocket>();
        using var mjpeg = new CancellationTokenSource();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var socket = new ClientWebSocket();
                await socket.ConnectAsync(server.Ws("ws/cam/raw"), CancellationToken.None);
                sockets.Add(socket);
                _ = DrainAsync(socket);
            }

            var jpeg = new ClientWebSocket();
            await jpeg.ConnectAsync(server.Ws("ws/cam/jpeg"), CancellationToken.None);
            sockets.Add(jpeg);
            _ = DrainAsync(jpeg);
            using var mjpegResponse = await http.GetAsync(server.Http("mjpeg/cam"), HttpCompletionOption.ResponseHeadersRead, mjpeg.Token);
            var mjpegBody = await mjpegResponse.Content.ReadAsStreamAsync(mjpeg.Token);
            _ = Task.Run(async () =>
            {
                var buffer = new byte[65536];
                while (await mjpegBody.ReadAsync(buffer, mjpeg.Token) > 0)
                {
                }
            });
            await Task.Delay(1500);

            var response = await http.GetAsync(server.Http("metrics"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            var text = await response.Content.ReadAsStringAsync();
            using var feedJson = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
            var families = PrometheusText.Parse(text);

            Assert.All(families.Keys, name => Assert.StartsWith("osprey_", name, StringComparison.Ordinal));
            var apiFrames = feedJson.RootElement.GetProperty("frames").GetInt64();
            var metricFrames = families["osprey_feed_frames_total"].Single(s => s.Labels["feed"] == "cam").Value;
            // Read one after the other at 30 fps: a few frames apart at most.
            Assert.InRange(metricFrames, apiFrames - 15, apiFrames + 1);
            Assert.Equal("counter", families["osprey_feed_frames_total"][0].Type);

            var viewers = families["osprey_viewers"].Where(s => s.Labels["feed"] == "cam").ToDictionary(s => s.Labels["protocol"], s => s.Value);
            Assert.Equal(3, viewers["raw"]);
            Assert.Equal(1, viewers["jpeg"]);
            Assert.Equal(1, viewers["mjpeg"]);
            Assert.Equal(feedJson.RootElement.GetProperty("viewers").GetInt32(), viewers.Values.Sum());

            var outFrames = families["osprey_output_frames_total"].Single(s => s.Labels["feed"] == "cam" && s.Labels["protocol"] == "raw").Value;
            Assert.True(outFrames >= 3 * 10, $"raw viewers were sent {outFrames} frames");
            Assert.Equal(320 * 240 * 2 * outFrames, families["osprey_output_sent_bytes_total"].Single(s => s.Labels["feed"] == "cam" && s.Labels["protocol"] == "raw").Value);
            Assert.Equal(1, families["osprey_feed_state"].Single(s => s.Labels["feed"] == "cam" && s.Labels["state"] == "running").Value);
            Assert.Equal(1, families["osprey_view_runs_total"].Single(s => s.Labels["view"] == "jpegEncoder").Value);
            Assert.True(families["osprey_capture_to_send_seconds_count"].Single(s => s.Labels["protocol"] == "raw").Value > 0);
            Assert.Equal(3, families["osprey_join_to_first_frame_seconds_count"].Single(s => s.Labels["protocol"] == "raw").Value);
            Assert.Equal("histogram", families["osprey_capture_to_send_seconds_bucket"][0].Type);
            Assert.True(families["osprey_connections"].Single().Value >= 5);
            Assert.Contains("osprey_credentials_refused_total", families.Keys);
            Assert.Contains("osprey_connections_refused_total", families.Keys);
            Assert.Contains("osprey_source_restarts_total", families.Keys);
        }
        finally
        {
            await mjpeg.CancelAsync();
            foreach (var socket in sockets)
            {
                socket.Abort();
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task Metrics_AgreeWithTheApi_OnOriginsRestartsDropsPublishersAndDestinations_AndAPublishersFeedExpiresAsTheFileSays()
    {
        var folder = Directory.CreateTempSubdirectory("osprey-metrics-").FullName;
        try
        {
            var config = Path.Combine(folder, "osprey.yaml");
            await File.WriteAllTextAsync(config, "sources:\n  door: \"testpattern:?width=64&height=48&fps=10\"\nlimits:\n  publisherFeedTtl: 1\n  allowDestinations: [127.0.0.1]\n");
            await using var server = await OspreyProcess.StartAsync("stream", "--config", config, "--source", "cam=testpattern:?width=160&height=120&fps=30");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using (var added = await http.PostAsync(server.Http("api/sources"), new StringContent("""{"name":"yard","uri":"testpattern:?width=64&height=48&fps=5"}""", Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.Created, added.StatusCode);
            }

            // A publisher's feed, a restarted source, a destination that cannot connect.
            await using (var publisher = Ffmpeg.PublishVideo(server.Http("ts/pub")))
            {
                await TsIngestTests.WaitForFeedAsync(server, "pub");
                using (await http.PostAsync(server.Http("api/feeds/cam/restart"), null))
                {
                }

                using (await http.PostAsync(server.Http("api/destinations"), new StringContent("""{"id":"lost","stream":"cam","destination":"ws://127.0.0.1:9/in/cam"}""", Encoding.UTF8, "application/json")))
                {
                }

                await WaitUntilAsync(async () => (await FeedAsync(http, server, "cam")).GetProperty("restarts").GetInt64() >= 1
                    && (await JsonAsync(http, server, "api/relay")).GetProperty("destinations")[0].GetProperty("state").GetString() == "reconnecting");

                var families = PrometheusText.Parse(await http.GetStringAsync(server.Http("metrics")));
                using var feeds = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds")));
                var apiOrigins = feeds.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("origin").GetString()!);
                Assert.Equal(new Dictionary<string, string> { ["cam"] = "flag", ["door"] = "config", ["yard"] = "api", ["pub"] = "publisher" }, apiOrigins);
                Assert.Equal(apiOrigins, families["osprey_feed_origin"].ToDictionary(s => s.Labels["feed"], s => s.Labels["origin"]));
                Assert.All(families["osprey_feed_origin"], s => Assert.Equal(1, s.Value));

                foreach (var feed in feeds.RootElement.EnumerateArray())
                {
                    var name = feed.GetProperty("name").GetString()!;
                    Assert.Equal(feed.GetProperty("viewersDropped").GetInt64(), Sample(families, "osprey_feed_drops_total", name, ("cause", "send_timeout")));
                    Assert.InRange(Sample(families, "osprey_feed_received_bytes_total", name), 1, feed.GetProperty("bytes").GetInt64());
                    if (name != "pub")
                    {
                        Assert.Equal(feed.GetProperty("restarts").GetInt64(), Sample(families, "osprey_source_restarts_total", name));
                    }
                }

                Assert.True(Sample(families, "osprey_source_restarts_total", "cam") >= 1);
                Assert.Equal(1, Sample(families, "osprey_feed_publisher_connected", "pub"));
                Assert.Equal(1, families["osprey_publisher_feeds"].Single().Value);
                var state = families["osprey_destination_state"].Where(s => s.Labels["destination"] == "lost").ToDictionary(s => s.Labels["state"], s => s.Value);
                Assert.Equal((1.0, 0.0, 0.0, 0.0), (state["reconnecting"], state["connected"], state["connecting"], state["stopped"]));
                // Counters between two reads of /api/relay agree with both.
                var before = (await JsonAsync(http, server, "api/relay")).GetProperty("destinations")[0];
                var scraped = PrometheusText.Parse(await http.GetStringAsync(server.Http("metrics")));
                var later = (await JsonAsync(http, server, "api/relay")).GetProperty("destinations")[0];
                Assert.InRange(scraped["osprey_destination_reconnects_total"].Single(s => s.Labels["destination"] == "lost").Value, before.GetProperty("reconnects").GetInt64(), later.GetProperty("reconnects").GetInt64());
                Assert.InRange(scraped["osprey_destination_drops_total"].Single(s => s.Labels["destination"] == "lost").Value, before.GetProperty("drops").GetInt64(), later.GetProperty("drops").GetInt64());
            }

            // The publisher left: the feed stays, unpublished, for the file's second, then goes; the metrics count it.
            var left = DateTime.UtcNow;
            await WaitUntilAsync(async () => PrometheusText.Parse(await http.GetStringAsync(server.Http("metrics")))["osprey_feed_publisher_connected"].Single(s => s.Labels["feed"] == "pub").Value == 0);
            await WaitUntilAsync(async () => (await http.GetAsync(server.Http("api/feeds/pub"))).StatusCode == HttpStatusCode.NotFound);
            Assert.True(DateTime.UtcNow - left >= TimeSpan.FromSeconds(0.95), $"the feed went {(DateTime.UtcNow - left).TotalSeconds:0.00} s after its publisher, before the file's 1 s");
            var after = PrometheusText.Parse(await http.GetStringAsync(server.Http("metrics")));
            Assert.Equal(1, after["osprey_publisher_feeds_expired_total"].Single().Value);
            Assert.Equal(0, after["osprey_publisher_feeds"].Single().Value);
            Assert.DoesNotContain(after["osprey_feed_origin"], s => s.Labels["feed"] == "pub");
            Assert.Contains("osprey_publishers_timed_out_total", after.Keys);
            Assert.Contains("osprey_publishers_taken_over_total", after.Keys);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double Sample(Dictionary<string, List<PrometheusSample>> families, string family, string feed, params (string Name, string Value)[] labels) =>
        families[family].Single(s => s.Labels["feed"] == feed && labels.All(l => s.Labels[l.Name] == l.Value)).Value;

    private static async Task<JsonElement> JsonAsync(HttpClient http, OspreyProcess server, string path) =>
        JsonDocument.Parse(await http.GetStringAsync(server.Http(path))).RootElement.Clone();

    private static Task<JsonElement> FeedAsync(HttpClient http, OspreyProcess server, string feed) => JsonAsync(http, server, $"api/feeds/{feed}");

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 20 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Metrics_NeedCredentials_WhenAUserIsConfigured()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=160&height=120&fps=5", "--user", "ops:pw:metrics", "--user", "viewer:pw:read");
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(server.Http("metrics"))).StatusCode);

        using var wrongAction = new HttpRequestMessage(HttpMethod.Get, server.Http("metrics"));
        wrongAction.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("viewer:pw")));
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(wrongAction)).StatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Get, server.Http("metrics"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:pw")));
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var families = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("osprey_feed_frames_total", families.Keys);
    }

    private static async Task DrainAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                await socket.ReceiveAsync(buffer, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }
}

/// <summary>One sample: its family's type, its labels and its value.</summary>
internal sealed record PrometheusSample(string Type, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A strict reader of the Prometheus text format (0.0.4): every line a comment (HELP, TYPE) or a sample
/// <c>name{labels} value</c>; HELP and TYPE once per family, before its samples; samples of a family together;
/// counters named <c>_total</c>, histograms with <c>_bucket</c> (with <c>le</c>), <c>_sum</c> and <c>_count</c>; no
/// series twice. Throws on anything else.
/// </summary>
internal static partial class PrometheusText
{
    public static Dictionary<string, List<PrometheusSample>> Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var helps = new HashSet<string>(StringComparer.Ordinal);
        var finished = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var samples = new Dictionary<string, List<PrometheusSample>>(StringComparer.Ordinal);
        string? current = null;
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                if (!meta.Success)
                {
                    throw new FormatException($"line {lineNumber}: not HELP or TYPE: {line}");
                }

                var family = meta.Groups["name"].Value;
                if (family != current && current is not null)
                {
                    finished.Add(current);
                }

                if (finished.Contains(family))
                {
                    throw new FormatException($"line {lineNumber}: family {family} is split");
                }

                current = family;
                if (meta.Groups["kind"].Value == "TYPE")
                {
                    var type = meta.Groups["rest"].Value;
                    if (type is not ("counter" or "gauge" or "histogram" or "summary" or "untyped") || !types.TryAdd(family, type))
                    {
                        throw new FormatException($"line {lineNumber}: bad or repeated TYPE: {line}");
                    }

                    if (type == "counter" && !family.EndsWith("_total", StringComparison.Ordinal))
                    {
                        throw new FormatException($"line {lineNumber}: counter {family} does not end in _total");
                    }
                }
                else if (!helps.Add(family) || meta.Groups["rest"].Value.Length == 0)
                {
                    throw new FormatException($"line {lineNumber}: repeated or empty HELP: {line}");
                }

                continue;
            }

            var sample = SampleLine().Match(line);
            if (!sample.Success)
            {
                throw new FormatException($"line {lineNumber}: not a sample: {line}");
            }

            var name = sample.Groups["name"].Value;
            var familyName = current ?? throw new FormatException($"line {lineNumber}: sample before any TYPE");
            if (!types.TryGetValue(familyName, out var familyType) || !helps.Contains(familyName))
            {
                throw new FormatException($"line {lineNumber}: family {familyName} lacks HELP or TYPE before its samples");
            }

            var allowed = familyType == "histogram"
                ? name is var n && (n == familyName + "_bucket" || n == familyName + "_sum" || n == familyName + "_count")
                : name == familyName;
            if (!allowed)
            {
                throw new FormatException($"line {lineNumber}: sample {name} does not belong to family {familyName}");
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var labelText = sample.Groups["labels"].Value;
            var position = 0;
            while (position < labelText.Length)
            {
                var label = LabelPair().Match(labelText, position);
                if (!label.Success || label.Index != position || !labels.TryAdd(label.Groups["key"].Value, Unescape(label.Groups["value"].Value)))
                {
                    throw new FormatException($"line {lineNumber}: bad labels: {line}");
                }

                position += label.Length;
            }

            if (name.EndsWith("_bucket", StringComparison.Ordinal) && familyType == "histogram" && !labels.ContainsKey("le"))
            {
                throw new FormatException($"line {lineNumber}: bucket without le");
            }

            var key = name + "{" + string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";
            if (!series.Add(key))
            {
                throw new FormatException($"line {lineNumber}: series {key} twice");
            }

            var valueText = sample.Groups["value"].Value;
            var value = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            if (!samples.TryGetValue(name, out var list))
            {
                samples[name] = list = [];
            }

            list.Add(new PrometheusSample(familyType, labels, value));
        }

        if (types.Keys.Except(helps).FirstOrDefault() is { } noHelp)
        {
            throw new FormatException($"family {noHelp} has TYPE but no HELP");
        }

        return samples;
    }

    private static string Unescape(string value) => value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);

    [GeneratedRegex(@"^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<rest>.*)$")]
    private static partial Regex MetaLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|Inf|NaN)|\+Inf|-Inf|NaN)( -?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\.|[^""\\])*)"",?")]
    private static partial Regex LabelPair();
}
