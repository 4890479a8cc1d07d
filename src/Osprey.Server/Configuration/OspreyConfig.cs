using System.Text.RegularExpressions;
using Osprey.Routing;
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

/// <summary>One vw stream of the file's <c>streams:</c> mapping (as vw's <c>POST /api/streams</c>).</summary>
/// <param name="Name">The stream's name, leading '/' stripped as vw does.</param>
/// <param name="Feeds">The feeds it combines, in order.</param>
/// <param name="Line">Where it is written.</param>
public sealed record ConfiguredStream(string Name, IReadOnlyList<string> Feeds, int Line)
{
    /// <summary>True when <paramref name="other"/> is the same rule (name and feeds, in order).</summary>
    public bool SameRule(ConfiguredStream other) => Name == other.Name && Feeds.SequenceEqual(other.Feeds, StringComparer.Ordinal);
}

/// <summary>One vw destination of the file's <c>destinations:</c> mapping (as vw's <c>POST /api/destinations</c>).</summary>
/// <param name="Rule">The rule: id, stream, destination URL, token.</param>
/// <param name="Line">Where it is written.</param>
public sealed record ConfiguredDestination(DestinationRule Rule, int Line);

/// <summary>
/// What <c>osprey.yaml</c> says. Sources, vw streams and destinations are applied again whenever the file
/// changes; every other setting is read at start (a change is logged as needing a restart).
/// </summary>
/// <remarks>
/// <code>
/// server:            # each setting also a flag (see ConfigSetting.All); a flag or environment variable wins
///   port: 8888
///   jpegQuality: 80
///   stateFile: osprey-state.yaml
/// sources:           # feed name: source URI
///   cam: "v4l2:///dev/video0?format=mjpeg"
/// streams:           # vw stream: feeds
///   stream/front/large: [video0, audio0]
/// destinations:      # vw destination id: rule
///   relay: { stream: stream/front/large, destination: "wss://relay.example/in/front" }
/// users:             # as --user, e.g. "alice:pbkdf2-sha256$...:read:cams/*"
///   - "ops:pw:all"
/// auth:    { method: jwt, jwtJwks: "https://idp/jwks" }
/// limits:  { maxViewers: 300, sendTimeout: 10, allowDestinations: [10.0.0.0/8] }
/// tls:     { cert: cert.pem, key: key.pem }
/// </code>
/// </remarks>
public sealed partial record OspreyConfig
{
    /// <summary>The keys of a destination rule.</summary>
    internal static readonly string[] DestinationKeys = ["stream", "destination", "token"];

    /// <summary>The sections and their keys this version reads (docs/osprey.schema.json describes the same).</summary>
    internal static IReadOnlyDictionary<string, string[]> KnownSections => s_known;

    /// <summary>The sections and keys this version reads; anything else is refused, so a typo is not silently ignored.</summary>
    private static readonly Dictionary<string, string[]> s_known = BuildKnown();

    private static Dictionary<string, string[]> BuildKnown()
    {
        var known = new Dictionary<string, string[]>(StringComparer.Ordinal)
        {
            ["sources"] = [],
            ["streams"] = [],
            ["destinations"] = [],
        };
        foreach (var group in ConfigSetting.All.GroupBy(s => s.Section, StringComparer.Ordinal))
        {
            known[group.Key] = [.. group.Where(s => s.Key is not null).Select(s => s.Key!)];
        }

        return known;
    }

    /// <summary>The settings the file gives, by <see cref="ConfigSetting.Id"/> (<c>limits.maxViewers</c>, <c>users</c>).</summary>
    public IReadOnlyDictionary<string, ConfigValue> Values { get; init; } = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);

    /// <summary>The sources, in the file's order.</summary>
    public IReadOnlyList<ConfiguredSource> Sources { get; init; } = [];

    /// <summary>The vw streams, in the file's order.</summary>
    public IReadOnlyList<ConfiguredStream> Streams { get; init; } = [];

    /// <summary>The vw destinations, in the file's order.</summary>
    public IReadOnlyList<ConfiguredDestination> Destinations { get; init; } = [];

    /// <summary>The single value of setting <paramref name="id"/>, or null when the file does not give it.</summary>
    public string? Value(string id) => Values.TryGetValue(id, out var value) && value.Values.Count > 0 ? value.Values[0] : null;

    /// <summary>The items of list setting <paramref name="id"/> (empty when the file does not give it).</summary>
    public IReadOnlyList<string> List(string id) => Values.TryGetValue(id, out var value) ? value.Values : [];

    /// <summary>
    /// Parses <paramref name="yaml"/>: structure, names and URLs (source URIs are checked by
    /// <see cref="SourceCatalog.Validate"/>, setting values by the command line's rules). An empty file is an
    /// empty configuration.
    /// </summary>
    /// <exception cref="ConfigException">The text is not YAML, or not the shape above; the message has the line.</exception>
    public static OspreyConfig Parse(string yaml, string file)
    {
        var root = LoadRoot(yaml, file);
        if (root is null)
        {
            return new OspreyConfig();
        }

        var values = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        var config = new OspreyConfig { Values = values };
        foreach (var (keyNode, value) in root.Children)
        {
            var key = Scalar(keyNode, file, "a section name");
            if (!s_known.TryGetValue(key, out var keys))
            {
                throw new ConfigException(file, Line(keyNode), $"unknown section '{key}' (known: {string.Join(", ", s_known.Keys)})");
            }

            switch (key)
            {
                case "sources":
                    config = config with { Sources = ReadSources(value, file) };
                    break;
                case "streams":
                    config = config with { Streams = ReadStreams(value, file) };
                    break;
                case "destinations":
                    config = config with { Destinations = ReadDestinations(value, file) };
                    break;
                default:
                    if (keys.Length == 0)
                    {
                        var setting = ConfigSetting.All.Single(s => s.Section == key && s.Key is null);
                        values[setting.Id] = new ConfigValue(ReadList(value, file, key), Line(keyNode), $"{file}:{Line(keyNode)}: {key}");
                    }
                    else
                    {
                        ReadSettings(key, value, keys, file, values);
                    }

                    break;
            }
        }

        return config;
    }

    /// <summary>The root mapping, or null for an empty file.</summary>
    internal static YamlMappingNode? LoadRoot(string yaml, string file)
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
            return null;
        }

        if (stream.Documents.Count > 1)
        {
            throw new ConfigException(file, (int)stream.Documents[1].RootNode.Start.Line, "one YAML document expected, found more");
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ConfigException(file, (int)stream.Documents[0].RootNode.Start.Line, "expected a mapping of sections (server:, sources:, ...)");
        }

        return root;
    }

    private static void ReadSettings(string section, YamlNode node, string[] keys, string file, Dictionary<string, ConfigValue> values)
    {
        if (IsEmpty(node))
        {
            return;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw new ConfigException(file, Line(node), $"{section}: expected a mapping of settings ({keys[0]}: ...)");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = Scalar(keyNode, file, "a setting name");
            if (!keys.Contains(key, StringComparer.Ordinal))
            {
                throw new ConfigException(file, Line(keyNode), $"{section}: unknown setting '{key}' (known: {string.Join(", ", keys)})");
            }

            var setting = ConfigSetting.All.Single(s => s.Section == section && s.Key == key);
            var line = Line(keyNode);
            IReadOnlyList<string> items = setting.Kind switch
            {
                SettingKind.List => value is YamlSequenceNode ? ReadList(value, file, setting.Id) : IsEmpty(value) ? [] : [Scalar(value, file, $"a value for {setting.Id}")],
                SettingKind.Switch => [ReadSwitch(value, file, setting.Id)],
                SettingKind.Path => [Path.GetFullPath(Path.Combine(folder, Scalar(value, file, $"a file name for {setting.Id}")))],
                _ => [Scalar(value, file, $"a value for {setting.Id}")],
            };
            values[setting.Id] = new ConfigValue(items, line, $"{file}:{line}: {setting.Id}");
        }
    }

    private static string ReadSwitch(YamlNode node, string file, string id)
    {
        var text = Scalar(node, file, $"true or false for {id}");
        return text.ToLowerInvariant() switch
        {
            "true" => "true",
            "false" => "false",
            _ => throw new ConfigException(file, Line(node), $"{id}: expected true or false, not '{text}'"),
        };
    }

    private static List<ConfiguredStream> ReadStreams(YamlNode node, string file)
    {
        var streams = new List<ConfiguredStream>();
        if (IsEmpty(node))
        {
            return streams;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw new ConfigException(file, Line(node), "streams: expected a mapping of stream name to feeds (stream/front/large: [video0, audio0])");
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = StreamRegistry.NormalizeName(Scalar(keyNode, file, "a stream name"));
            if (!VwName().IsMatch(name))
            {
                throw new ConfigException(file, Line(keyNode), $"streams: '{name}' is not a stream name (letters, digits, '-' and '/', as vw's)");
            }

            if (streams.Exists(s => s.Name == name))
            {
                throw new ConfigException(file, Line(keyNode), $"streams: stream '{name}' is given twice");
            }

            List<string> feeds = value is YamlSequenceNode ? ReadList(value, file, $"streams.{name}") : IsEmpty(value) ? [] : [Scalar(value, file, $"the feeds of stream '{name}'")];
            if (feeds.FirstOrDefault(f => f.Length == 0 || f.Any(char.IsControl)) is { } bad)
            {
                throw new ConfigException(file, Line(value), $"streams: stream '{name}': '{bad}' is not a feed name");
            }

            if (feeds.Distinct(StringComparer.Ordinal).Count() > StreamRegistry.MaxFeedsPerStream)
            {
                throw new ConfigException(file, Line(value), $"streams: stream '{name}' combines {feeds.Count} feeds; at most {StreamRegistry.MaxFeedsPerStream}");
            }

            streams.Add(new ConfiguredStream(name, feeds, Line(keyNode)));
        }

        return streams;
    }

    private static List<ConfiguredDestination> ReadDestinations(YamlNode node, string file)
    {
        var destinations = new List<ConfiguredDestination>();
        if (IsEmpty(node))
        {
            return destinations;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw new ConfigException(file, Line(node), "destinations: expected a mapping of id to rule (relay: {stream: video0, destination: \"ws://relay:8888/in/video0\"})");
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var id = Scalar(keyNode, file, "a destination id");
            if (!VwName().IsMatch(id))
            {
                throw new ConfigException(file, Line(keyNode), $"destinations: '{id}' is not a destination id (letters, digits, '-' and '/', as vw's)");
            }

            if (destinations.Exists(d => d.Rule.Id == id))
            {
                throw new ConfigException(file, Line(keyNode), $"destinations: destination '{id}' is given twice");
            }

            if (value is not YamlMappingNode rule)
            {
                throw new ConfigException(file, Line(value), $"destinations: '{id}': expected a mapping with stream, destination and (optional) token");
            }

            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (fieldNode, fieldValue) in rule.Children)
            {
                var field = Scalar(fieldNode, file, "a rule field");
                if (!DestinationKeys.Contains(field, StringComparer.Ordinal))
                {
                    throw new ConfigException(file, Line(fieldNode), $"destinations: '{id}': unknown field '{field}' (known: {string.Join(", ", DestinationKeys)})");
                }

                fields[field] = Scalar(fieldValue, file, $"a value for destinations.{id}.{field}");
            }

            if (fields.GetValueOrDefault("stream") is not { Length: > 0 } stream)
            {
                throw new ConfigException(file, Line(keyNode), $"destinations: '{id}' needs a stream (a feed or vw stream name)");
            }

            // The checks vw makes before dialling; the API stores such a rule and shows the error, the file refuses it.
            var url = fields.GetValueOrDefault("destination")?.Trim();
            if (url is not { Length: > 0 } || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss") || uri.UserInfo.Length > 0)
            {
                throw new ConfigException(file, Line(keyNode), $"destinations: '{id}': destination '{url}' is not a ws:// or wss:// URL (without a user name or password)");
            }

            destinations.Add(new ConfiguredDestination(
                new DestinationRule(id, StreamRegistry.NormalizeName(stream), fields["destination"].Trim(), fields.GetValueOrDefault("token") ?? ""),
                Line(keyNode)));
        }

        return destinations;
    }

    // gorilla/mux's pattern for vw's path variables: a name the API could not GET or DELETE is refused here.
    [GeneratedRegex(@"^[a-zA-Z0-9\-\/]+$")]
    private static partial Regex VwName();

    internal static List<ConfiguredSource> ReadSources(YamlNode node, string file)
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

    internal static List<string> ReadList(YamlNode node, string file, string what)
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

    internal static string Scalar(YamlNode node, string file, string what) =>
        node is YamlScalarNode { Value: { } value }
            ? value
            : throw new ConfigException(file, Line(node), $"expected {what} (a single value), found a {(node is YamlMappingNode ? "mapping" : node is YamlSequenceNode ? "list" : "null")}");

    internal static int Line(YamlNode node) => (int)Math.Min(node.Start.Line, int.MaxValue);
}
