using System.Net;
using Microsoft.Extensions.Logging;
using Osprey.Server.Hosting;

namespace Osprey.Tests.Server.Hosting;

/// <summary>Flags, environment variables and the help's source URIs, parsed without starting a server.</summary>
public class OspreyCommandLineTests
{
    private static readonly Func<string, string?> s_noEnvironment = _ => null;

    [Fact]
    public void NoFlags_Serve8888OnAllInterfaces_WithTheDefaultSource()
    {
        var options = OspreyCommandLine.Parse([], s_noEnvironment);
        Assert.Equal(("serve", 8888, IPAddress.Any), (options.Command, options.Port, options.Bind));
        Assert.Empty(options.Sources);
    }

    [Fact]
    public void Flags_WinOverOspreyVariables_WhichWinOverVwPort()
    {
        var environment = new Dictionary<string, string> { ["OSPREY_PORT"] = "9000", ["VW_PORT"] = "9100", ["OSPREY_BIND"] = "127.0.0.1" };
        var fromEnvironment = OspreyCommandLine.Parse([], k => environment.GetValueOrDefault(k));
        Assert.Equal(9000, fromEnvironment.Port);
        Assert.Equal(IPAddress.Loopback, fromEnvironment.Bind);

        var fromFlag = OspreyCommandLine.Parse(["--port", "9200"], k => environment.GetValueOrDefault(k));
        Assert.Equal(9200, fromFlag.Port);

        var vwOnly = OspreyCommandLine.Parse([], k => k == "VW_PORT" ? "9100" : null);
        Assert.Equal(9100, vwOnly.Port);
    }

    [Fact]
    public void Sources_RepeatFromFlags_OrComeSpaceSeparatedFromTheEnvironment()
    {
        var flags = OspreyCommandLine.Parse(["--source", "a=testpattern:", "--source=b=testpattern:?fps=10"], s_noEnvironment);
        Assert.Equal(["a=testpattern:", "b=testpattern:?fps=10"], flags.Sources);

        var environment = OspreyCommandLine.Parse([], k => k == "OSPREY_SOURCE" ? "a=testpattern: b=testpattern:?fps=10" : null);
        Assert.Equal(["a=testpattern:", "b=testpattern:?fps=10"], environment.Sources);
    }

    [Fact]
    public void TheSubcommand_MayStandAmongTheFlags_Once()
    {
        Assert.Equal("stream", OspreyCommandLine.Parse(["--port", "1", "stream"], s_noEnvironment).Command);
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["stream", "serve"], s_noEnvironment));
    }

    [Fact]
    public void VwLogLevelNames_AreHonoured()
    {
        Assert.Equal(LogLevel.Debug, OspreyCommandLine.Parse([], k => k == "VW_LOGLEVEL" ? "debug" : null).LogLevel);
        Assert.Equal(LogLevel.Warning, OspreyCommandLine.Parse([], k => k == "VW_LOG_LEVEL" ? "warn" : null).LogLevel);
    }

    [Fact]
    public void VwAndCrossbarSettings_AreHonoured()
    {
        Assert.Equal(LogLevel.Error, OspreyCommandLine.Parse([], k => k == "VW_LOGLEVEL" ? "ERROR" : null).LogLevel);
        Assert.Equal("ws://relay:8080/bi/api", OspreyCommandLine.Parse([], k => k == "VW_API" ? "ws://relay:8080/bi/api" : null).ApiDestination);
        Assert.Equal("s3cret", OspreyCommandLine.Parse(["--ingest-secret", "s3cret"], s_noEnvironment).IngestSecret);
        Assert.Equal([8082, 8083], OspreyCommandLine.Parse(["--extra-port", "8082", "--extra-port=8083"], s_noEnvironment).ExtraPorts);
        Assert.Equal([8082], OspreyCommandLine.Parse([], k => k == "OSPREY_EXTRA_PORTS" ? "8082" : null).ExtraPorts);

        var relay = OspreyCommandLine.Parse(["relay"], k => k == "CROSSBAR_LISTEN" ? "127.0.0.1:9999" : null);
        Assert.Equal("relay", relay.Command);
        Assert.Equal(9999, relay.Port);
        Assert.Equal(System.Net.IPAddress.Loopback, relay.Bind);

        // vw's README stream mode ignores CROSSBAR_LISTEN; flags beat it in relay mode.
        Assert.Equal(OspreyOptions.DefaultPort, OspreyCommandLine.Parse(["stream"], k => k == "CROSSBAR_LISTEN" ? "127.0.0.1:9999" : null).Port);
        Assert.Equal(7000, OspreyCommandLine.Parse(["relay", "--port", "7000"], k => k == "CROSSBAR_LISTEN" ? "127.0.0.1:9999" : null).Port);
    }

    [Theory]
    [InlineData("--extra-port", "http")]
    [InlineData("--ingest-secret", "a/b")]
    [InlineData("--ingest-secret", "api")]
    [InlineData("--api", "http://not-a-websocket")]
    [InlineData("--port", "http")]
    [InlineData("--port", "70000")]
    [InlineData("--bind", "not-an-address")]
    [InlineData("--log-level", "loud")]
    [InlineData("--colour", "blue")]
    public void BadArguments_AreRefusedWithAClearMessage(string flag, string value)
    {
        var error = Assert.Throws<FormatException>(() => OspreyCommandLine.Parse([flag, value], s_noEnvironment));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void EverySourceUriFormInTheHelp_IsAcceptedByTheParser_WithEachAlternative()
    {
        var lines = OspreyCommandLine.Usage.Split('\n').Select(l => l.Trim())
            .SkipWhile(l => !l.StartsWith("Source URIs:", StringComparison.Ordinal))
            .TakeWhile(l => !l.StartsWith("Endpoints:", StringComparison.Ordinal))
            .Select(l => l.StartsWith("Source URIs:", StringComparison.Ordinal) ? l["Source URIs:".Length..].Trim() : l)
            .Select(l => l.Split("   ")[0])
            .Where(l => Osprey.Sources.SourceFactory.Schemes.Any(s => l.StartsWith(s + ":", StringComparison.Ordinal)))
            .ToList();
        Assert.Equal(Osprey.Sources.SourceFactory.Schemes.Order(), lines.Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]).Distinct().Order());

        var checkedUris = 0;
        foreach (var line in lines)
        {
            // Placeholders become real values; each "a|b|c" alternative is tried on its own.
            var uri = line.Replace("<ffmpeg input arguments>", "-f lavfi -i testsrc2", StringComparison.Ordinal)
                .Replace("=WxH", "=320x240", StringComparison.Ordinal).Replace("=N", "=25", StringComparison.Ordinal)
                .Replace("=2-31", "=5", StringComparison.Ordinal).Replace("=KBPS", "=1000", StringComparison.Ordinal);
            var alternatives = System.Text.RegularExpressions.Regex.Match(uri, @"=([a-z0-9]+(?:\|[a-z0-9]+)+)");
            var variants = alternatives.Success
                ? alternatives.Groups[1].Value.Split('|').Select(a => uri.Replace(alternatives.Groups[1].Value, a, StringComparison.Ordinal))
                : [uri];
            foreach (var variant in variants)
            {
                var source = Osprey.Sources.SourceFactory.Create(variant);
                (source as IDisposable)?.Dispose();
                checkedUris++;
            }
        }

        Assert.True(checkedUris >= 9, $"only {checkedUris} URIs checked");
        Assert.DoesNotContain("quality=Q", OspreyCommandLine.Usage, StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_HaveTheDocumentedDefaults_AndFlagsOrVariablesChangeThem()
    {
        var defaults = OspreyCommandLine.Parse([], s_noEnvironment);
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.SendTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), defaults.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.SourceTimeout);
        Assert.Equal(8L << 20, defaults.ViewerQueueBytes);
        Assert.Equal(16L << 20, defaults.TopicQueueBytes);

        var set = OspreyCommandLine.Parse(
            ["--send-timeout", "2.5", "--idle-timeout=0", "--viewer-queue-mib", "3", "--topic-queue-mib", "1", "--source-timeout", "4"],
            k => k == "OSPREY_SEND_TIMEOUT" ? "7" : null);
        Assert.Equal(TimeSpan.FromSeconds(2.5), set.SendTimeout);
        Assert.Equal(TimeSpan.Zero, set.IdleTimeout);
        Assert.Equal(3L << 20, set.ViewerQueueBytes);
        Assert.Equal(1L << 20, set.TopicQueueBytes);
        Assert.Equal(TimeSpan.FromSeconds(4), set.SourceTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7), OspreyCommandLine.Parse([], k => k == "OSPREY_SEND_TIMEOUT" ? "7" : null).SendTimeout);
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--send-timeout", "-1"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--viewer-queue-mib", "0"], s_noEnvironment));
    }

    [Fact]
    public void TlsFiles_ComeFromFlagsOrTheEnvironment_AndOneWithoutTheOtherOrWithSelfSigned_IsAStartUpError()
    {
        var options = OspreyCommandLine.Parse(["--tls-cert", "c.pem", "--tls-key=k.pem"], s_noEnvironment);
        Assert.Equal(("c.pem", "k.pem"), (options.TlsCertFile, options.TlsKeyFile));
        Assert.True(options.UsesTls);
        var fromEnvironment = OspreyCommandLine.Parse([], k => k switch { "OSPREY_TLS_CERT" => "e.pem", "OSPREY_TLS_KEY" => "ek.pem", _ => null });
        Assert.Equal(("e.pem", "ek.pem"), (fromEnvironment.TlsCertFile, fromEnvironment.TlsKeyFile));
        Assert.Contains("--tls-key", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--tls-cert", "c.pem"], s_noEnvironment)).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--tls-key", "k.pem"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"], s_noEnvironment));
        Assert.False(OspreyCommandLine.Parse([], s_noEnvironment).UsesTls);
    }

    [Fact]
    public void DestinationTrust_PinsAndCaFiles_AreRepeatable_AndCheckedAtStart()
    {
        const string pin = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";
        var options = OspreyCommandLine.Parse(["--destination-pin", pin, $"--destination-pin={new string('0', 64)}"], s_noEnvironment);
        Assert.Equal([pin, new string('0', 64)], options.DestinationPins);
        Assert.Empty(OspreyCommandLine.Parse([], s_noEnvironment).DestinationCaFiles);
        Assert.Contains("not a SHA-256", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--destination-pin", "abcd"], s_noEnvironment)).Message, StringComparison.Ordinal);
        Assert.Contains("cannot be loaded", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--destination-ca", "/nonexistent/ca.pem"], s_noEnvironment)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CertCommand_TakesAnOptionalFolder_AndOtherCommandsTakeNoPositionalArgument()
    {
        Assert.Equal(("cert", "/tmp/x"), OspreyCommandLine.Parse(["cert", "/tmp/x"], s_noEnvironment) is var o ? (o.Command, o.CertDirectory) : default);
        Assert.Null(OspreyCommandLine.Parse(["cert"], s_noEnvironment).CertDirectory);
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["devices", "/tmp/x"], s_noEnvironment));
    }

    [Fact]
    public void TheAuthenticationMethod_IsImpliedByItsFlags_AndOnlyOneMayBeGiven()
    {
        Assert.Equal(Osprey.Server.Security.AuthMethod.Internal, OspreyCommandLine.Parse([], s_noEnvironment).AuthMethod);

        var jwt = OspreyCommandLine.Parse(["--jwt-jwks", "https://idp.example/jwks", "--jwt-issuer", "https://idp.example", "--jwt-audience", "osprey"], s_noEnvironment);
        Assert.Equal(Osprey.Server.Security.AuthMethod.Jwt, jwt.AuthMethod);
        Assert.Equal(new Uri("https://idp.example/jwks"), jwt.Jwt!.JwksUrl);
        Assert.Equal("osprey_permissions", jwt.Jwt.Claim);
        Assert.Equal("osprey", jwt.Jwt.Audience);

        var http = OspreyCommandLine.Parse(["--auth-http", "http://127.0.0.1:9000/auth", "--auth-http-exclude", "metrics", "--auth-http-exclude=api", "--auth-method", "http"], s_noEnvironment);
        Assert.Equal(Osprey.Server.Security.AuthMethod.Http, http.AuthMethod);
        Assert.Equal(Osprey.Server.Security.OspreyAction.Metrics | Osprey.Server.Security.OspreyAction.Api, http.AuthHttpExclude);

        Assert.Equal(Osprey.Server.Security.AuthMethod.Jwt, OspreyCommandLine.Parse([], k => k == "OSPREY_JWT_JWKS" ? "http://idp/jwks" : null).AuthMethod);
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--jwt-jwks", "http://a/jwks", "--auth-http", "http://b/auth"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-method", "jwt"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-method", "internal", "--auth-http", "http://b/auth"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-method", "ldap"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--jwt-issuer", "x"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-http-exclude", "metrics"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-http", "ftp://b/auth"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--auth-http", "http://b/auth", "--auth-http-exclude", "fly"], s_noEnvironment));
        Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--jwt-key", "/nonexistent/key.pem"], s_noEnvironment));
    }
}
