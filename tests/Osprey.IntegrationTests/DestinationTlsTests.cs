using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// Outgoing wss:// keeps verifying the relay's certificate (issue 13, TLS): a relay Osprey serving TLS with a
/// certificate of a private CA is refused with a clear lastError, accepted when its CA is given
/// (<c>--destination-ca</c>) or its SHA-256 pinned (<c>--destination-pin</c>, or a destination's own <c>pin</c>), and
/// refused again for a pin of another certificate.
/// </summary>
[Trait("Needs", "Socket")]
public class DestinationTlsTests
{
    private const string Source = "cam=testpattern:?width=160&height=120&fps=5";

    [Fact]
    public async Task AWssRelay_IsRefusedUntilTrusted_ByItsCaFileOrItsPinnedSha256_AndAWrongPinIsRefused()
    {
        using var certificate = TestCertificate.CreateSignedByCa();
        using var other = TestCertificate.Create("another relay");
        await using var relay = await OspreyProcess.StartAsync("relay", "--tls-cert", certificate.CertFile, "--tls-key", certificate.KeyFile);
        var target = $"wss://127.0.0.1:{relay.BaseUri.Port}/in/cam";

        // No trust given: the system's CAs do not know the relay's; a rule may pin its own certificate.
        await using (var server = await OspreyProcess.StartAsync("stream", "--source", Source, "--allow-destination", "127.0.0.1"))
        {
            await AddAsync(server, "untrusted", target);
            await AddAsync(server, "pinned", target, certificate.Sha256.Replace(":", "", StringComparison.Ordinal).ToLowerInvariant());
            await AddAsync(server, "wrong", target, other.Sha256);
            var malformed = await VwApiTests.SendAsync(server, "POST", "api/destinations", $$"""{"id":"bad","stream":"cam","destination":"{{target}}","pin":"AB:CD"}""");
            Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
            Assert.Contains("not a SHA-256", malformed.Body, StringComparison.Ordinal);

            var untrusted = await WaitForAsync(server, "untrusted", d => d.GetProperty("lastError").ValueKind == JsonValueKind.String);
            Assert.Equal("reconnecting", untrusted.GetProperty("state").GetString());
            Assert.Equal(
                $"the TLS handshake failed: the relay's certificate is not trusted (SHA-256 {certificate.Sha256}): trust its CA with --destination-ca FILE or pin it with --destination-pin",
                untrusted.GetProperty("lastError").GetString());
            Assert.Equal(0, untrusted.GetProperty("bytesSent").GetInt64());

            var wrong = await WaitForAsync(server, "wrong", d => d.GetProperty("lastError").ValueKind == JsonValueKind.String);
            Assert.Equal($"the TLS handshake failed: the relay's certificate (SHA-256 {certificate.Sha256}) is not the pinned one", wrong.GetProperty("lastError").GetString());

            var pinned = await WaitForAsync(server, "pinned", d => d.GetProperty("bytesSent").GetInt64() > 0);
            Assert.Equal("connected", pinned.GetProperty("state").GetString());
            // The listing shows the pin (it is no secret), normalized.
            Assert.Contains($"\"pin\":\"{certificate.Sha256}\"", (await VwApiTests.SendAsync(server, "GET", "api/destinations/pinned")).Body, StringComparison.Ordinal);
        }

        // The private CA's certificate given: the relay's chain is checked against it (and its name against the URL).
        await using (var server = await OspreyProcess.StartAsync("stream", "--source", Source, "--allow-destination", "127.0.0.1", "--destination-ca", certificate.CaFile!))
        {
            await AddAsync(server, "ca", target);
            var trusted = await WaitForAsync(server, "ca", d => d.GetProperty("bytesSent").GetInt64() > 0);
            Assert.Equal("connected", trusted.GetProperty("state").GetString());
            Assert.Equal(JsonValueKind.Null, trusted.GetProperty("lastError").ValueKind);
        }

        // A pin for every destination: the relay's certificate passes, another's would not, and a rule's own pin wins.
        await using (var server = await OspreyProcess.StartAsync("stream", "--source", Source, "--allow-destination", "127.0.0.1", "--destination-pin", certificate.Sha256))
        {
            await AddAsync(server, "global", target);
            await AddAsync(server, "own-wrong", target, other.Sha256);
            Assert.Equal("connected", (await WaitForAsync(server, "global", d => d.GetProperty("bytesSent").GetInt64() > 0)).GetProperty("state").GetString());
            var refused = await WaitForAsync(server, "own-wrong", d => d.GetProperty("lastError").ValueKind == JsonValueKind.String);
            Assert.Contains("is not the pinned one", refused.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AMistypedPinOrAMissingCaFile_StopsStartUpWithExitCode2()
    {
        foreach (var (flag, value, message) in new[] { ("--destination-pin", "12:34", "is not a SHA-256 fingerprint"), ("--destination-ca", "/nonexistent/ca.pem", "cannot be loaded") })
        {
            var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--port", "0", flag, value])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var process = Process.Start(start)!;
            var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(2, process.ExitCode);
            Assert.Contains(message, stderr, StringComparison.Ordinal);
        }
    }

    private static async Task AddAsync(OspreyProcess server, string id, string target, string? pin = null)
    {
        var body = pin is null
            ? $$"""{"id":"{{id}}","stream":"cam","destination":"{{target}}"}"""
            : $$"""{"id":"{{id}}","stream":"cam","destination":"{{target}}","pin":"{{pin}}"}""";
        var added = await VwApiTests.SendAsync(server, "POST", "api/destinations", body);
        Assert.True(added.Status == HttpStatusCode.OK, $"{id}: {added.Status} {added.Body}");
    }

    /// <summary>The destination's entry in /api/relay once <paramref name="condition"/> holds (20 s at most).</summary>
    private static async Task<JsonElement> WaitForAsync(OspreyProcess server, string id, Func<JsonElement, bool> condition)
    {
        var watch = Stopwatch.StartNew();
        JsonElement last = default;
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var status = JsonDocument.Parse((await VwApiTests.SendAsync(server, "GET", "api/relay")).Body);
            last = status.RootElement.GetProperty("destinations").EnumerateArray().Single(d => d.GetProperty("id").GetString() == id).Clone();
            if (condition(last))
            {
                return last;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"destination {id}: {last}");
    }
}
