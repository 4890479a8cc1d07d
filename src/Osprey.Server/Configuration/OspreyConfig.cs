using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Osprey.Server.Configuration;

/// <summary>A problem in the config file, with the line it is on.</summary>
public sealed class ConfigException(string file, int line, string message)
    : Exception(line > 0 ? $"{file}:{line}: {message}" : $"{file}: {message}")
{
    /// <summary>The 1-based line, 0 when the problem is not on one line.</summary>
    public int Line { get; } = line;
}

/// <summary>One source of the file's <c>sources:</c> mapping.</summary>
/// <param name="Name">The feed name.</param>
/// <param name="Uri">The source URI.</param>
/// <param name="Line">Where it is written.</param>
public sealed record ConfiguredSource(string Name, string Uri, int Line);

/// <summary>
/// What <c>osprey.yaml</c> says. Server settings are read at start (a change needs a restart); sources are applied
/// again whenever the file changes.
/// </summary>
/// <remarks>
/// <code>
/// server:            # each also a flag; a flag or environment variable wins
///   port: 8888
///   bind: 0.0.0.0
///   jpegQuality: 80
///   logLevel: information
///   ingestSecret: s3cret
/// sources:           # feed name: source URI
///   cam: "v4l2:///dev/video0?format=mjpeg"
/// users:             # as --user, e.g. "alice:pbkdf2-sha256$...:read:cams/*"
///   - "ops:pw:all"
/// tokens:            # as --token
///   - "0123456789abcdef0123:publish:live/*"
/// </code>
/// </remarks>
public sealed record OspreyConfig
{
    /// <summary>The sections and keys this version reads (docs/osprey.schema.json describes the same).</summary>
    internal static IReadOnlyDictionary<string, string[]> KnownSections => s_known;

    /// <summary>The sections and keys this version reads; anything else is refused, so a typo is not silently ignored.</summary>
    private static readonly Dictionary<string, string[]> s_known = new(StringComparer.Ordinal)
    {
        ["server"] = ["port", "bind", "jpegQuality", "logLevel", "ingestSecret", "extraPorts"],
        ["sources"] = [],
        ["users"] = [],
        ["tokens"] = [],
        ["allowOrigins"] = [],
    };

    /// <summary>The file's server settings, by key (as written).</summary>
    public IReadOnlyDictionary<string, string> Server { get; init; } = new Dictionary<string, string>();

    /// <summary>The extra ports of <c>server.extraPorts</c>.</summary>
    public IReadOnlyList<string> ExtraPorts { get; init; } = [];

    /// <summary>The sources, in the file's order.</summary>
    public IReadOnlyList<ConfiguredSource> Sources { get; init; } = [];

    /// <summary><c>users:</c>, each as a <c>--user</c> spec.</summary>
    public IReadOnlyList<string> Users { get; init; } = [];

    /// <summary><c>tokens:</c>, each as a <c>--token</c> spec.</summary>
    public IReadOnlyList<string> Tokens { get; init; } = [];

    /// <summary><c>allowOrigins:</c>.</summary>
    public IReadOnlyList<string> AllowOrigins { get; init; } = [];

    /// <summary>
    /// Parses <paramref name="yaml"/>; structure only (names and URIs are checked by <see cref="SourceCatalog.Validate"/>).
    /// An empty file is an empty configuration.
    /// </summary>
    /// <exception cref="ConfigException">The text is not YAML, or not the shape above; the message has the line.</exception>
    public static OspreyConfig Parse(string yaml, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new ConfigException(file, (int)ex.Start.Line, $"not valid YAML: {ex.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new OspreyConfig();
        }

        if (stream.Documents.Count > 1)
        {
            throw new ConfigException(file, (int)stream.Documents[1].RootNode.Start.Line, "one YAML document expected, found more");
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ConfigException(file, (int)stream.Documents[0].RootNode.Start.Line, "expected a mapping of sections (server:, sources:, ...)");
        }

        var config = new OspreyConfig();
        foreach (var (keyNode, value) in root.Children)
        {
            var key = Scalar(keyNode, file, "a section name");
            if (!s_known.TryGetValue(key, out var keys))
            {
                throw new ConfigException(file, Line(keyNode), $"unknown section '{key}' (known: {string.Join(", ", s_known.Keys)})");
            }

            config = key switch
            {
                "server" => config with { Server = ReadServer(value, keys, file, out var extra), ExtraPorts = extra },
                "sources" => config with { Sources = ReadSources(value, file) },
                "users" => config with { Users = ReadList(value, file, key) },
                "tokens" => config with { Tokens = ReadList(value, file, key) },
                _ => config with { AllowOrigins = ReadList(value, file, key) },
            };
        }

        return config;
    }

    private static Dictionary<string, string> ReadServer(YamlNode node, string[] keys, string file, out IReadOnlyList<string> extraPorts)
    {
        extraPorts = [];
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        if (IsEmpty(node))
        {
            return settings;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw new ConfigException(file, Line(node), "server: expected a mapping of settings");
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = Scalar(keyNode, file, "a setting name");
            if (!keys.Contains(key, StringComparer.Ordinal))
            {
                throw new ConfigException(file, Line(keyNode), $"server: unknown setting '{key}' (known: {string.Join(", ", keys)})");
            }

            if (key == "extraPorts")
            {
                extraPorts = value is YamlSequenceNode ? ReadList(value, file, "server.extraPorts") : [Scalar(value, file, "a port")];
                continue;
            }

            settings[key] = Scalar(value, file, $"a value for server.{key}");
        }

        return settings;
    }

    private static List<ConfiguredSource> ReadSources(YamlNode node, string file)
    {
        var sources = new List<ConfiguredSource>();
        if (IsEmpty(node))
        {
            return sources;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw new ConfigException(file, Line(node), "sources: expected a mapping of feed name to source URI (cam: \"v4l2:///dev/video0\")");
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = Scalar(keyNode, file, "a feed name");
            if (sources.Exists(s => s.Name == name))
            {
                throw new ConfigException(file, Line(keyNode), $"sources: feed '{name}' is given twice");
            }

            sources.Add(new ConfiguredSource(name, Scalar(value, file, $"the URI of source '{name}'"), Line(keyNode)));
        }

        return sources;
    }

    private static List<string> ReadList(YamlNode node, string file, string what)
    {
        if (IsEmpty(node))
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            throw new ConfigException(file, Line(node), $"{what}: expected a list (- item)");
        }

        return [.. sequence.Children.Select(item => Scalar(item, file, $"an entry of {what}"))];
    }

    private static bool IsEmpty(YamlNode node) => node is YamlScalarNode { Value: null or "" or "~" or "null" } scalar && scalar.Style == ScalarStyle.Plain;

    private static string Scalar(YamlNode node, string file, string what) =>
        node is YamlScalarNode { Value: { } value }
            ? value
            : throw new ConfigException(file, Line(node), $"expected {what} (a single value), found a {(node is YamlMappingNode ? "mapping" : node is YamlSequenceNode ? "list" : "null")}");

    private static int Line(YamlNode node) => (int)Math.Min(node.Start.Line, int.MaxValue);
}
