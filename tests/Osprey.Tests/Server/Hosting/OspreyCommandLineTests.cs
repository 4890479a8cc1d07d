using System.Net;
using Microsoft.Extensions.Logging;
using Osprey.Server.Configuration;
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

    [Fact]
    public void TheConfigFile_FillsWhatFlagsAndVariablesLeave_AndFlagsWinOverVariablesWhichWinOverTheFile()
    {
        using var file = new TempConfig(
            """
            server:
              port: 9001
              jpegQuality: 60
            users: ["file:pw:all"]
            limits:
              maxViewers: 5
              maxViewersPerFeed: 4
              sendTimeout: 3
              publisherFeedTtl: 7
              publisherTakeover: true
              allowDestinations: [10.1.0.0/16]
            """);
        var environment = new Dictionary<string, string> { ["OSPREY_MAX_VIEWERS"] = "6", ["VW_PORT"] = "9002", ["OSPREY_USERS"] = "env:pw:all", ["OSPREY_PUBLISHER_TAKEOVER"] = "0" };

        var fileOnly = OspreyCommandLine.Parse(["--config", file.Path], s_noEnvironment);
        Assert.Equal((9001, 60, 5, 4), (fileOnly.Port, fileOnly.JpegQuality, fileOnly.MaxViewers, fileOnly.MaxViewersPerFeed));
        Assert.Equal((TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(7), true), (fileOnly.SendTimeout, fileOnly.PublisherFeedTtl, fileOnly.PublisherTakeover));
        Assert.Equal(["file:pw:all"], fileOnly.Users);
        Assert.Equal(["10.1.0.0/16"], fileOnly.AllowedDestinations);
        Assert.Equal(new ResolvedSetting("5", SettingLayer.File, $"{file.Path}:6: limits.maxViewers"), fileOnly.Settings["limits.maxViewers"]);

        var withEnvironment = OspreyCommandLine.Parse(["--config", file.Path], k => environment.GetValueOrDefault(k));
        Assert.Equal((9002, 6, 4), (withEnvironment.Port, withEnvironment.MaxViewers, withEnvironment.MaxViewersPerFeed));
        Assert.Equal(["env:pw:all"], withEnvironment.Users);
        Assert.False(withEnvironment.PublisherTakeover);
        Assert.Equal(SettingLayer.Environment, withEnvironment.Settings["limits.maxViewers"].From);

        var withFlags = OspreyCommandLine.Parse(
            ["--config", file.Path, "--port", "9003", "--max-viewers", "7", "--user", "flag:pw:all", "--publisher-takeover"], k => environment.GetValueOrDefault(k));
        Assert.Equal((9003, 7, 4, 60), (withFlags.Port, withFlags.MaxViewers, withFlags.MaxViewersPerFeed, withFlags.JpegQuality));
        Assert.Equal(["flag:pw:all"], withFlags.Users);
        Assert.True(withFlags.PublisherTakeover);
        Assert.Equal(new ResolvedSetting("7", SettingLayer.Flag, "--max-viewers"), withFlags.Settings["limits.maxViewers"]);

        // OSPREY_CONFIG names the file too; a flag names another.
        Assert.Equal(9001, OspreyCommandLine.Parse([], k => k == "OSPREY_CONFIG" ? file.Path : null).Port);
    }

    [Theory]
    [InlineData("limits:\n  maxFeeds: lots\n", 2, "limits.maxFeeds 'lots' is not a number from 1 to 100000.")]
    [InlineData("limits:\n  sendTimeout: -1\n", 2, "limits.sendTimeout '-1' is not a number of seconds from 0 to 86400.")]
    [InlineData("limits:\n  publisherIdleTimeout: 0\n", 2, "limits.publisherIdleTimeout must be more than 0 seconds.")]
    [InlineData("limits:\n  viewerQueueMib: 0\n", 2, "limits.viewerQueueMib '0' is not a number of MiB above 0")]
    [InlineData("limits:\n  maxConnections: 0\n", 2, "limits.maxConnections '0' is not a number from 1 to 1000000.")]
    [InlineData("limits:\n  allowDestinations: [\"not a host!\"]\n", 2, "limits.allowDestinations: --allow-destination 'not a host!' is not a CIDR")]
    [InlineData("\nserver:\n  port: 70000\n", 3, "server.port: port '70000' is not a number from 0 to 65535.")]
    [InlineData("server:\n  logLevel: loud\n", 2, "server.logLevel: log level 'loud' is not one of")]
    [InlineData("server:\n  api: http://relay/api\n", 2, "server.api 'http://relay/api' is not a ws:// or wss:// URL.")]
    [InlineData("server:\n  ingestSecret: a/b\n", 2, "server.ingestSecret 'a/b' must be letters")]
    [InlineData("tls:\n  cert: c.pem\n", 2, "tls.cert needs --tls-key")]
    [InlineData("auth:\n  method: ldap\n", 2, "auth.method 'ldap' is not one of internal, http, jwt.")]
    [InlineData("auth:\n  http: ftp://idp/auth\n", 2, "auth.http 'ftp://idp/auth' is not an http:// or https:// URL.")]
    [InlineData("auth:\n  http: http://idp/auth\n  httpExclude: [fly]\n", 3, "auth.httpExclude 'fly' is not an action")]
    public void ABadValueInTheFile_IsRefusedAsTheFlagWouldBe_WithTheFilesLine(string yaml, int line, string reason)
    {
        using var file = new TempConfig(yaml);
        var error = Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--config", file.Path], s_noEnvironment));
        Assert.StartsWith($"{file.Path}:{line}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadValueInTheFile_IsRefusedEvenWhenAFlagOrVariableOverridesIt_SinceTheNextStartWithoutThemWouldFail()
    {
        using var file = new TempConfig("limits:\n  maxStreams: lots\n");
        Assert.StartsWith($"{file.Path}:2: limits.maxStreams 'lots'", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--config", file.Path, "--max-streams", "4"], s_noEnvironment)).Message, StringComparison.Ordinal);
        Assert.StartsWith($"{file.Path}:2: limits.maxStreams 'lots'", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--config", file.Path], k => k == "OSPREY_MAX_STREAMS" ? "4" : null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACertificateAndAnAuthenticationMethod_AreTakenWholeFromTheCommandLine_WhenItGivesAnyPartOfThem()
    {
        using var file = new TempConfig("tls:\n  selfSigned: true\nauth:\n  http: http://127.0.0.1:9/auth\n  httpExclude: [metrics]\n");
        var fromFile = OspreyCommandLine.Parse(["--config", file.Path], s_noEnvironment);
        Assert.True(fromFile.TlsSelfSigned);
        Assert.Equal((Osprey.Server.Security.AuthMethod.Http, Osprey.Server.Security.OspreyAction.Metrics), (fromFile.AuthMethod, fromFile.AuthHttpExclude));

        // The flags' certificate and JWT replace the file's self-signed one and its callback, instead of clashing.
        var fromFlags = OspreyCommandLine.Parse(["--config", file.Path, "--tls-cert", "c.pem", "--tls-key", "k.pem", "--jwt-jwks", "https://idp/jwks"], s_noEnvironment);
        Assert.Equal(("c.pem", "k.pem", false), (fromFlags.TlsCertFile, fromFlags.TlsKeyFile, fromFlags.TlsSelfSigned));
        Assert.Equal((Osprey.Server.Security.AuthMethod.Jwt, Osprey.Server.Security.OspreyAction.None), (fromFlags.AuthMethod, fromFlags.AuthHttpExclude));
        var fromVariables = OspreyCommandLine.Parse(["--config", file.Path], k => k switch { "OSPREY_TLS_CERT" => "e.pem", "OSPREY_TLS_KEY" => "ek.pem", "OSPREY_AUTH_METHOD" => "internal", _ => null });
        Assert.Equal(("e.pem", false, Osprey.Server.Security.AuthMethod.Internal), (fromVariables.TlsCertFile, fromVariables.TlsSelfSigned, fromVariables.AuthMethod));
    }

    [Fact]
    public void EveryOptionInTheHelp_HasAKeyInTheConfigFile_AndAVariable()
    {
        var flags = System.Text.RegularExpressions.Regex.Matches(OspreyCommandLine.Usage, @"(?<![\w-])--[a-z][a-z0-9-]+").Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        // Not settings: the file itself, help, and the sections with their own shape (sources: is --source's).
        flags.ExceptWith(["--config", "--help", "--source"]);
        var placed = ConfigSetting.All.Select(s => s.Flag).ToHashSet(StringComparer.Ordinal);
        var unplaced = flags.Except(placed).Order(StringComparer.Ordinal).ToList();
        Assert.True(unplaced.Count == 0, $"options without a key in the config file (give each a row in ConfigSetting.All and docs/osprey.schema.json): {string.Join(", ", unplaced)}");
        Assert.Empty(placed.Except(flags));
        foreach (var setting in ConfigSetting.All)
        {
            // OSPREY_ and the flag's name in capitals (lists may be plural), as the help says.
            var derived = "OSPREY_" + setting.Flag[2..].Replace('-', '_').ToUpperInvariant();
            Assert.True(setting.Environment[0] == derived || setting.Environment[0] == derived + "S", $"{setting.Flag}: {setting.Environment[0]}");
            Assert.True(OspreyConfig.KnownSections.ContainsKey(setting.Section));
        }
    }

    [Fact]
    public void SwitchesAndListsFromTheEnvironment_AreRead_AndABadSwitchIsRefused()
    {
        var options = OspreyCommandLine.Parse([], k => k switch
        {
            "OSPREY_PUBLISHER_TAKEOVER" => "true",
            "OSPREY_ALLOW_DESTINATIONS" => "10.0.0.0/8 relay.lan",
            "OSPREY_MAX_FEEDS" => "12",
            "OSPREY_PUBLISHER_FEED_TTL" => "0",
            _ => null,
        });
        Assert.True(options.PublisherTakeover);
        Assert.Equal(["10.0.0.0/8", "relay.lan"], options.AllowedDestinations);
        Assert.Equal(12, options.MaxFeeds);
        Assert.Equal(Timeout.InfiniteTimeSpan, options.PublisherFeedTtl);
        Assert.Contains("OSPREY_TLS_SELF_SIGNED 'perhaps'", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse([], k => k == "OSPREY_TLS_SELF_SIGNED" ? "perhaps" : null)).Message, StringComparison.Ordinal);
        Assert.Contains("OSPREY_MAX_FEEDS 'x'", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse([], k => k == "OSPREY_MAX_FEEDS" ? "x" : null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheStateFile_ComesFromTheFlagOrTheFile_AndIsReadAtStart()
    {
        using var file = new TempConfig("server:\n  stateFile: state.yaml\n");
        var state = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(file.Path)!, "state.yaml");
        File.WriteAllText(state, "sources:\n  yard: \"testpattern:\"\nremoved: [door]\n");
        var options = OspreyCommandLine.Parse(["--config", file.Path], s_noEnvironment);
        Assert.Equal(state, options.StateFile);
        Assert.Equal(["yard"], options.State.Sources.Select(s => s.Name));
        Assert.Equal(["door"], options.State.Removed);

        File.WriteAllText(state, "sources: [\n");
        Assert.StartsWith($"{state}:2: not valid YAML", Assert.Throws<FormatException>(() => OspreyCommandLine.Parse(["--config", file.Path], s_noEnvironment)).Message, StringComparison.Ordinal);
        Assert.Same(StateFile.Empty, OspreyCommandLine.Parse(["--state-file", state + ".none"], s_noEnvironment).State);
    }

    /// <summary>A config file in a folder of its own, deleted with it.</summary>
    private sealed class TempConfig : IDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("osprey-cli-").FullName;

        public TempConfig(string yaml)
        {
            Path = System.IO.Path.Combine(_folder, "osprey.yaml");
            File.WriteAllText(Path, yaml);
        }

        public string Path { get; }

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }
}
