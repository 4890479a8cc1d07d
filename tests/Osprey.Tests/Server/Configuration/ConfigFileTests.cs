using Osprey.Server.Configuration;

namespace Osprey.Tests.Server.Configuration;

public class ConfigFileTests
{
    private const string Commented =
        """
        # Osprey at the lab door
        server:
          port: 8888   # the page
          jpegQuality: 75

        sources:
          # the door camera
          door: "v4l2:///dev/video0?format=mjpeg"   # USB, MJPEG
          test: testpattern:?width=320&height=240

        # who may watch
        users:
          - "ops:pw:all"
        """;

    [Fact]
    public void AFile_ParsesIntoServerSettingsSourcesAndUsers()
    {
        var config = OspreyConfig.Parse(Commented, "osprey.yaml");
        Assert.Equal("8888", config.Value("server.port"));
        Assert.Equal("75", config.Value("server.jpegQuality"));
        Assert.Equal("osprey.yaml:4: server.jpegQuality", config.Values["server.jpegQuality"].Label);
        Assert.Equal([("door", "v4l2:///dev/video0?format=mjpeg", 8), ("test", "testpattern:?width=320&height=240", 9)], config.Sources.Select(s => (s.Name, s.Uri, s.Line)));
        Assert.Equal(["ops:pw:all"], config.List("users"));
        Assert.Empty(OspreyConfig.Parse("", "x").Sources);
        Assert.Empty(OspreyConfig.Parse("# nothing yet\n", "x").Sources);
        Assert.Empty(OspreyConfig.Parse("sources:\n", "x").Sources);
    }

    [Fact]
    public void EverySection_Parses_VwStreamsAndDestinations_AuthLimitsAndTls()
    {
        var folder = Directory.CreateTempSubdirectory("osprey-config-").FullName;
        try
        {
            var file = Path.Combine(folder, "osprey.yaml");
            var config = OspreyConfig.Parse(
                """
                server:
                  stateFile: state/osprey-state.yaml
                streams:
                  /stream/front/large: [video0, audio0]   # vw strips the leading '/'
                  solo: video1
                destinations:
                  relay:
                    stream: /stream/front/large
                    destination: "wss://relay.example/in/front"
                    token: "s3cret-token"
                  plain: { stream: solo, destination: "ws://10.0.0.9:8888/in/solo" }
                auth:
                  method: jwt
                  jwtJwks: "https://idp.example/jwks"
                  jwtKey: keys/jwt.pem
                  httpExclude: [metrics, api]
                  localHosts: camera.local
                limits:
                  maxViewers: 20
                  sendTimeout: 2.5
                  publisherFeedTtl: 5
                  publisherTakeover: true
                  allowDestinations: ["10.0.0.0/8", relay.lan]
                  allowInsecureToken: FALSE
                tls:
                  cert: /etc/osprey/cert.pem
                  key: key.pem
                  selfSigned: false
                """,
                file);

            Assert.Equal([("stream/front/large", "video0,audio0", 4), ("solo", "video1", 5)], config.Streams.Select(s => (s.Name, string.Join(',', s.Feeds), s.Line)));
            Assert.Equal(
                [new Osprey.Routing.DestinationRule("relay", "stream/front/large", "wss://relay.example/in/front", "s3cret-token"), new Osprey.Routing.DestinationRule("plain", "solo", "ws://10.0.0.9:8888/in/solo", "")],
                config.Destinations.Select(d => d.Rule));
            Assert.Equal(7, config.Destinations[0].Line);
            Assert.Equal("jwt", config.Value("auth.method"));
            Assert.Equal(["metrics", "api"], config.List("auth.httpExclude"));
            Assert.Equal(["camera.local"], config.List("auth.localHosts"));
            Assert.Equal("20", config.Value("limits.maxViewers"));
            Assert.Equal("2.5", config.Value("limits.sendTimeout"));
            Assert.Equal("true", config.Value("limits.publisherTakeover"));
            Assert.Equal("false", config.Value("limits.allowInsecureToken"));
            Assert.Equal(["10.0.0.0/8", "relay.lan"], config.List("limits.allowDestinations"));
            Assert.Equal("false", config.Value("tls.selfSigned"));

            // File names in the file are relative to the file's folder, wherever Osprey was started.
            Assert.Equal(Path.Combine(folder, "state", "osprey-state.yaml"), config.Value("server.stateFile"));
            Assert.Equal(Path.Combine(folder, "keys", "jwt.pem"), config.Value("auth.jwtKey"));
            Assert.Equal(Path.Combine(folder, "key.pem"), config.Value("tls.key"));
            Assert.Equal("/etc/osprey/cert.pem", config.Value("tls.cert"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("server:\n  port: 1\nsorces:\n  a: b\n", 3, "unknown section 'sorces'")]
    [InlineData("limits:\n  maxViewer: 1\n", 2, "limits: unknown setting 'maxViewer' (known: maxConnections,")]
    [InlineData("limits: 5\n", 1, "limits: expected a mapping of settings")]
    [InlineData("tls:\n  selfSigned: maybe\n", 2, "tls.selfSigned: expected true or false, not 'maybe'")]
    [InlineData("auth:\n  method: [jwt]\n", 2, "single value")]
    [InlineData("users: alice\n", 1, "users: expected a list")]
    [InlineData("streams:\n  front_cam: [video0]\n", 2, "'front_cam' is not a stream name")]
    [InlineData("streams:\n  a: [v]\n  /a: [w]\n", 3, "stream 'a' is given twice")]
    [InlineData("streams:\n  - a\n", 2, "streams: expected a mapping")]
    [InlineData("streams:\n  a: [\"\"]\n", 2, "'' is not a feed name")]
    [InlineData("destinations:\n  r: {stream: v, destination: \"http://relay/in/v\"}\n", 2, "destination 'http://relay/in/v' is not a ws:// or wss:// URL")]
    [InlineData("destinations:\n  r: {stream: v, destination: \"ws://user:pw@relay/in/v\"}\n", 2, "without a user name or password")]
    [InlineData("destinations:\n  r:\n    stream: v\n    destination: \"ws://relay/in/v\"\n    colour: red\n", 5, "unknown field 'colour'")]
    [InlineData("destinations:\n  r: {destination: \"ws://relay/in/v\"}\n", 2, "'r' needs a stream")]
    [InlineData("destinations:\n  r: \"ws://relay/in/v\"\n", 2, "expected a mapping with stream, destination")]
    [InlineData("destinations:\n  \"r 1\": {stream: v, destination: \"ws://relay/in/v\"}\n", 2, "'r 1' is not a destination id")]
    [InlineData("server:\n  prot: 1\n", 2, "unknown setting 'prot'")]
    [InlineData("sources:\n  a: x\n  a: y\n", 3, "Duplicate key")]
    [InlineData("sources:\n  - a\n", 2, "expected a mapping")]
    [InlineData("sources:\n  a: [1, 2]\n", 2, "single value")]
    [InlineData("sources: [\n", 2, "not valid YAML")]
    [InlineData("- a\n- b\n", 1, "expected a mapping of sections")]
    [InlineData("sources:\n  a: \"unterminated\n", 2, "not valid YAML")]
    public void ABadFile_IsRefusedWithItsLineAndTheReason(string yaml, int line, string reason)
    {
        var error = Assert.Throws<ConfigException>(() => OspreyConfig.Parse(yaml, "osprey.yaml"));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
        Assert.StartsWith($"osprey.yaml:{line}: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SettingASource_ReplacesOnlyItsValue_AndKeepsEveryComment()
    {
        var edited = YamlSourcesEditor.SetSource(Commented, "door", "ffmpeg:-i rtsp://door/stream#output=h264", "osprey.yaml");
        Assert.Equal(Commented.Replace("\"v4l2:///dev/video0?format=mjpeg\"", "\"ffmpeg:-i rtsp://door/stream#output=h264\"", StringComparison.Ordinal), edited);
        Assert.Equal("ffmpeg:-i rtsp://door/stream#output=h264", OspreyConfig.Parse(edited, "x").Sources[0].Uri);
    }

    [Fact]
    public void AddingASource_PutsItAfterTheLastOneAtTheSameIndent_AndKeepsEverythingElse()
    {
        var edited = YamlSourcesEditor.SetSource(Commented, "yard", "testpattern:?fps=5", "osprey.yaml");
        Assert.Contains("  test: testpattern:?width=320&height=240\n  yard: \"testpattern:?fps=5\"\n\n# who may watch", edited, StringComparison.Ordinal);
        Assert.Equal(Commented, YamlSourcesEditor.RemoveSource(edited, "yard", "x"));
        var config = OspreyConfig.Parse(edited, "x");
        Assert.Equal(["door", "test", "yard"], config.Sources.Select(s => s.Name));
        Assert.Equal(["ops:pw:all"], config.List("users"));
    }

    [Fact]
    public void RemovingASource_TakesItsLinesOnly()
    {
        var edited = YamlSourcesEditor.RemoveSource(Commented, "door", "osprey.yaml");
        Assert.Equal(Commented.Replace("  door: \"v4l2:///dev/video0?format=mjpeg\"   # USB, MJPEG\n", "", StringComparison.Ordinal), edited);
        Assert.Equal(["test"], OspreyConfig.Parse(edited, "x").Sources.Select(s => s.Name));
        Assert.Equal(edited, YamlSourcesEditor.RemoveSource(edited, "nosuch", "x"));
    }

    [Theory]
    [InlineData("", "sources:\n  cam: \"testpattern:\"\n")]
    [InlineData("# empty\n", "# empty\nsources:\n  cam: \"testpattern:\"\n")]
    [InlineData("server:\n  port: 1", "server:\n  port: 1\nsources:\n  cam: \"testpattern:\"\n")]
    [InlineData("sources:\nusers: []\n", "sources:\n  cam: \"testpattern:\"\nusers: []\n")]
    [InlineData("sources: {}\n", "sources:\n  cam: \"testpattern:\"\n")]
    [InlineData("sources: {a: \"x:y\"}\n", "sources:\n  a: \"x:y\"\n  cam: \"testpattern:\"\n")]
    public void AddingTheFirstSource_MakesTheSection(string yaml, string expected)
    {
        var edited = YamlSourcesEditor.SetSource(yaml, "cam", "testpattern:", "osprey.yaml");
        Assert.Equal(expected, edited);
        Assert.Equal("testpattern:", OspreyConfig.Parse(edited, "x").Sources.Single(s => s.Name == "cam").Uri);
    }

    [Fact]
    public void WindowsLineEndings_AreKept()
    {
        var crlf = "sources:\r\n  a: \"x:\"\r\n";
        var edited = YamlSourcesEditor.SetSource(crlf, "b", "y:", "x");
        Assert.Equal("sources:\r\n  a: \"x:\"\r\n  b: \"y:\"\r\n", edited);
        Assert.Equal(crlf, YamlSourcesEditor.RemoveSource(edited, "b", "x"));
    }

    [Fact]
    public void UrisWithQuotesBackslashesAndHashes_SurviveTheRoundTrip()
    {
        const string Uri = "ffmpeg:-i \"C:\\\\cams\\\\door.mp4\" -vf drawtext=text='#1'#output=mjpeg";
        var edited = YamlSourcesEditor.SetSource("", "cam", Uri, "x");
        Assert.Equal(Uri, OspreyConfig.Parse(edited, "x").Sources.Single().Uri);
    }

    [Fact]
    public void AFileThatDoesNotParse_IsNotEdited()
    {
        Assert.Throws<ConfigException>(() => YamlSourcesEditor.SetSource("sources: [\n", "cam", "testpattern:", "osprey.yaml"));
    }
}

public class StateFileTests
{
    [Fact]
    public void WhatIsWritten_ReadsBack_WithUrisThatNeedQuoting()
    {
        var state = new StateFile(
            [new ConfiguredSource("yard", "ffmpeg:-i \"a b.mp4\"#output=mjpeg", 0), new ConfiguredSource("cams/door", "testpattern:?width=64&height=48", 0)],
            ["gate"]);
        var text = state.Write();
        Assert.StartsWith("# Written by Osprey's sources API", text, StringComparison.Ordinal);
        var read = StateFile.Parse(text, "state.yaml");
        Assert.Equal([("cams/door", "testpattern:?width=64&height=48"), ("yard", "ffmpeg:-i \"a b.mp4\"#output=mjpeg")], read.Sources.Select(s => (s.Name, s.Uri)));
        Assert.Equal(["gate"], read.Removed);
        Assert.Equal(StateFile.Empty.Sources, StateFile.Parse(StateFile.Empty.Write(), "x").Sources);
        Assert.Empty(StateFile.Parse("", "x").Removed);
    }

    [Theory]
    [InlineData("sources: [\n", 2, "not valid YAML")]
    [InlineData("sources:\n  a: b\nsettings: 1\n", 3, "unknown section 'settings' of a state file")]
    [InlineData("removed: gate\n", 1, "removed: expected a list")]
    public void ABrokenStateFile_IsRefusedWithItsLine(string yaml, int line, string reason)
    {
        var error = Assert.Throws<ConfigException>(() => StateFile.Parse(yaml, "state.yaml"));
        Assert.Equal(line, error.Line);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }
}

public class ConfigSchemaTests
{
    [Fact]
    public void TheSchema_DescribesEverySectionAndSettingTheParserKnows_AndNothingElse()
    {
        using var schema = System.Text.Json.JsonDocument.Parse(Osprey.Server.Endpoints.Sources.SourceEndpoints.ReadSchema());
        var root = schema.RootElement;
        Assert.False(root.GetProperty("additionalProperties").GetBoolean());
        var sections = root.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(OspreyConfig.KnownSections.Keys.Order(StringComparer.Ordinal), sections);
        foreach (var (section, keys) in OspreyConfig.KnownSections.Where(s => s.Value.Length > 0))
        {
            var described = root.GetProperty("properties").GetProperty(section);
            Assert.False(described.GetProperty("additionalProperties").GetBoolean(), $"{section} lets unknown keys through");
            Assert.Equal(keys.Order(StringComparer.Ordinal), described.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            foreach (var key in described.GetProperty("properties").EnumerateObject())
            {
                Assert.True(key.Value.TryGetProperty("description", out var description), $"{section}.{key.Name} has no description");
                var flag = ConfigSetting.All.Single(s => s.Section == section && s.Key == key.Name).Flag;
                Assert.Contains(flag, description.GetString(), StringComparison.Ordinal);
            }
        }

        // A destination rule's fields, and the list sections, are described as the parser reads them.
        var rule = root.GetProperty("properties").GetProperty("destinations").GetProperty("additionalProperties");
        Assert.False(rule.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(OspreyConfig.DestinationKeys.Order(StringComparer.Ordinal), rule.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var list in ConfigSetting.All.Where(s => s.Key is null))
        {
            Assert.Contains("array", root.GetProperty("properties").GetProperty(list.Section).GetProperty("type").EnumerateArray().Select(t => t.GetString()));
        }
        foreach (var section in root.GetProperty("properties").EnumerateObject())
        {
            Assert.True(section.Value.TryGetProperty("description", out _), $"{section.Name} has no description");
        }
    }
}
