using System.Text;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Osprey.Server.Configuration;

/// <summary>
/// Edits the <c>sources:</c> mapping of a YAML text in place, as go2rtc patches its file: only the lines of the
/// source that changed are touched, so comments, blank lines, order and the other sections stay as the operator
/// wrote them. The parser gives each node's position; the edit splices text at it.
/// </summary>
public static class YamlSourcesEditor
{
    /// <summary>
    /// The text with source <paramref name="name"/> set to <paramref name="uri"/>: its value replaced where it is,
    /// or a new line after the last source (a <c>sources:</c> section is added at the end when there is none).
    /// </summary>
    /// <exception cref="ConfigException">The text is not a file <see cref="OspreyConfig.Parse"/> reads.</exception>
    public static string SetSource(string yaml, string name, string uri, string file)
    {
        OspreyConfig.Parse(yaml, file); // refuse to edit what would not load
        var (root, sources) = Locate(yaml);
        if (sources is YamlMappingNode { Style: not MappingStyle.Flow } mapping && mapping.Children.Count > 0)
        {
            foreach (var (key, value) in mapping.Children)
            {
                if (key is YamlScalarNode { Value: { } existing } && existing == name)
                {
                    return Splice(yaml, value.Start.Index, value.End.Index, Quote(uri));
                }
            }

            // After the last entry's value, on a line of its own, indented as the first key is.
            var last = mapping.Children[^1].Value;
            var indent = new string(' ', (int)mapping.Children[0].Key.Start.Column - 1);
            var at = EndOfLine(yaml, (int)last.End.Index);
            return yaml.Insert(at, NewLine(yaml) + indent + Key(name) + ": " + Quote(uri));
        }

        var entry = "  " + Key(name) + ": " + Quote(uri);
        if (sources is not null && root is not null)
        {
            // "sources:" with nothing, "{}" or a flow mapping: rewrite that value as a block with the old entries kept.
            var entries = sources is YamlMappingNode flow
                ? flow.Children.Select(c => "  " + Key(((YamlScalarNode)c.Key).Value!) + ": " + Quote(((YamlScalarNode)c.Value).Value!)).ToList()
                : [];
            entries.Add(entry);
            var keyNode = root.Children.First(c => c.Key is YamlScalarNode { Value: "sources" }).Key;
            var start = EndOfKey(yaml, (int)keyNode.End.Index);
            // A flow mapping's end mark is not where its '}' is: take the rest of its line (flow sections are one-liners).
            var end = sources is YamlScalarNode { Value: null or "" } ? start : EndOfLine(yaml, (int)sources.Start.Index);
            return Splice(yaml, start, end, NewLine(yaml) + string.Join(NewLine(yaml), entries));
        }

        var text = new StringBuilder(yaml);
        if (text.Length > 0 && text[^1] != '\n')
        {
            text.Append(NewLine(yaml));
        }

        return text.Append("sources:").Append(NewLine(yaml)).Append(entry).Append(NewLine(yaml)).ToString();
    }

    /// <summary>The text without source <paramref name="name"/> (its lines removed); unchanged when it is not there.</summary>
    /// <exception cref="ConfigException">The text is not a file <see cref="OspreyConfig.Parse"/> reads.</exception>
    public static string RemoveSource(string yaml, string name, string file)
    {
        OspreyConfig.Parse(yaml, file);
        var (_, sources) = Locate(yaml);
        if (sources is not YamlMappingNode mapping)
        {
            return yaml;
        }

        foreach (var (key, value) in mapping.Children)
        {
            if (key is YamlScalarNode { Value: { } existing } && existing == name)
            {
                if (mapping.Style == MappingStyle.Flow)
                {
                    var others = mapping.Children.Where(c => c.Key != key).Select(c => Key(((YamlScalarNode)c.Key).Value!) + ": " + Quote(((YamlScalarNode)c.Value).Value!));
                    return Splice(yaml, (int)mapping.Start.Index, EndOfLine(yaml, (int)mapping.Start.Index), "{" + string.Join(", ", others) + "}");
                }

                // Whole lines: from the start of the key's line to the end of the value's (its trailing comment too).
                var start = StartOfLine(yaml, (int)key.Start.Index);
                var end = EndOfLine(yaml, (int)value.End.Index);
                if (end < yaml.Length && yaml[end] == '\r')
                {
                    end++;
                }

                if (end < yaml.Length && yaml[end] == '\n')
                {
                    end++;
                }

                return yaml.Remove(start, end - start);
            }
        }

        return yaml;
    }

    private static (YamlMappingNode? Root, YamlNode? Sources) Locate(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            return (null, null);
        }

        foreach (var (key, value) in root.Children)
        {
            if (key is YamlScalarNode { Value: "sources" })
            {
                return (root, value);
            }
        }

        return (root, null);
    }

    /// <summary>A URI as a double-quoted scalar: URIs hold ':', '#', '&amp;', '?' and spaces that plain YAML would misread.</summary>
    internal static string Quote(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => text.Append("\\\""),
                '\\' => text.Append("\\\\"),
                '\n' => text.Append("\\n"),
                '\t' => text.Append("\\t"),
                _ when char.IsControl(c) => text.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture)),
                _ => text.Append(c),
            };
        }

        return text.Append('"').ToString();
    }

    /// <summary>A feed name as a key: plain when it is safe (letters, digits, '-', '_', '.', '/'), else quoted.</summary>
    private static string Key(string name) =>
        name.Length > 0 && char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')
            ? name
            : Quote(name);

    private static string NewLine(string yaml) => yaml.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";

    private static string Splice(string yaml, long start, long end, string replacement) =>
        string.Concat(yaml.AsSpan(0, (int)start), replacement, yaml.AsSpan((int)end));

    private static int StartOfLine(string yaml, int index)
    {
        var newline = index == 0 ? -1 : yaml.LastIndexOf('\n', index - 1);
        return newline + 1;
    }

    private static int EndOfLine(string yaml, int index)
    {
        var newline = yaml.IndexOf('\n', index);
        var end = newline < 0 ? yaml.Length : newline;
        return end > index && yaml[end - 1] == '\r' ? end - 1 : end;
    }

    /// <summary>Just after the ':' that ends a key (the value's text, if any, comes after it).</summary>
    private static int EndOfKey(string yaml, int keyEnd)
    {
        var colon = yaml.IndexOf(':', keyEnd);
        return colon < 0 ? keyEnd : colon + 1;
    }
}
