using System.Text;

namespace Osprey.Server.Configuration;

/// <summary>
/// The state file (<c>--state-file</c>, <c>server.stateFile</c>): what the sources API changed, kept apart from
/// the operator's config file, which then stays exactly as written. At start it is read over the config file's
/// sources: <see cref="Sources"/> are added or replace the file's, <see cref="Removed"/> names the file's sources
/// the API deleted. Osprey writes it whole (it is Osprey's file, not the operator's).
/// </summary>
/// <remarks>
/// <code>
/// # Written by Osprey's sources API ...
/// sources:
///   yard: "testpattern:?width=640&amp;height=480"
/// removed:
///   - door
/// </code>
/// </remarks>
/// <param name="Sources">Sources added or replaced through the API.</param>
/// <param name="Removed">Sources of the config file removed through the API.</param>
public sealed record StateFile(IReadOnlyList<ConfiguredSource> Sources, IReadOnlyList<string> Removed)
{
    /// <summary>No changes.</summary>
    public static StateFile Empty { get; } = new([], []);

    /// <summary>Parses a state file.</summary>
    /// <exception cref="ConfigException">The text is not YAML or not the shape above; the message has the line.</exception>
    public static StateFile Parse(string yaml, string file)
    {
        var root = OspreyConfig.LoadRoot(yaml, file);
        if (root is null)
        {
            return Empty;
        }

        var state = Empty;
        foreach (var (keyNode, value) in root.Children)
        {
            state = OspreyConfig.Scalar(keyNode, file, "a section name") switch
            {
                "sources" => state with { Sources = OspreyConfig.ReadSources(value, file) },
                "removed" => state with { Removed = OspreyConfig.ReadList(value, file, "removed") },
                var other => throw new ConfigException(file, OspreyConfig.Line(keyNode), $"unknown section '{other}' of a state file (known: sources, removed)"),
            };
        }

        return state;
    }

    /// <summary>The file's text, sources and removed names in name order.</summary>
    public string Write()
    {
        var text = new StringBuilder()
            .Append("# Written by Osprey's sources API (--state-file) and read over the config file's sources at start.\n")
            .Append("# Edit the config file instead; delete an entry here to let the config file's own entry apply again.\n")
            .Append("sources:");
        if (Sources.Count == 0)
        {
            text.Append(" {}");
        }

        text.Append('\n');
        foreach (var source in Sources.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            text.Append("  ").Append(YamlSourcesEditor.Quote(source.Name)).Append(": ").Append(YamlSourcesEditor.Quote(source.Uri)).Append('\n');
        }

        text.Append("removed:");
        if (Removed.Count == 0)
        {
            text.Append(" []");
        }

        text.Append('\n');
        foreach (var name in Removed.Order(StringComparer.Ordinal))
        {
            text.Append("  - ").Append(YamlSourcesEditor.Quote(name)).Append('\n');
        }

        return text.ToString();
    }
}
