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
        Assert.Equal("8888", config.Server["port"]);
        Assert.Equal("75", config.Server["jpegQuality"]);
        Assert.Equal([("door", "v4l2:///dev/video0?format=mjpeg", 8), ("test", "testpattern:?width=320&height=240", 9)], config.Sources.Select(s => (s.Name, s.Uri, s.Line)));
        Assert.Equal(["ops:pw:all"], config.Users);
        Assert.Empty(OspreyConfig.Parse("", "x").Sources);
        Assert.Empty(OspreyConfig.Parse("# nothing yet\n", "x").Sources);
        Assert.Empty(OspreyConfig.Parse("sources:\n", "x").Sources);
    }

    [Theory]
    [InlineData("server:\n  port: 1\nsorces:\n  a: b\n", 3, "unknown section 'sorces'")]
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
        Assert.Equal(["ops:pw:all"], config.Users);
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
        var server = root.GetProperty("properties").GetProperty("server").GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(OspreyConfig.KnownSections["server"].Order(StringComparer.Ordinal), server);
        foreach (var section in root.GetProperty("properties").EnumerateObject())
        {
            Assert.True(section.Value.TryGetProperty("description", out _), $"{section.Name} has no description");
        }
    }
}
