using System.Text;
using System.Text.Json;
using Osprey.Routing;

namespace Osprey.Server.Endpoints.Vw;

/// <summary>
/// The rules of vw: streams and destinations, changed through the REST API and through vw's WS/JSON control
/// verbs (on the <c>api</c> topic: <c>/ws/api</c> locally, or a destination rule whose stream is <c>api</c>).
/// </summary>
internal sealed class VwControlApi
{
    /// <summary>The id of the destination rule made from <c>VW_API</c>, which the control verbs refuse to delete.</summary>
    public const string ApiRuleId = "apiRule";

    private readonly StreamRegistry _streams;
    private DestinationRegistry? _destinations;

    public VwControlApi(StreamRegistry streams, string? apiDestination)
    {
        _streams = streams;
        ApiDestination = apiDestination;
    }

    /// <summary>Where the control API connects out to (vw's <c>VW_API</c>), if anywhere.</summary>
    public string? ApiDestination { get; }

    public StreamRegistry Streams => _streams;

    public DestinationRegistry Destinations => _destinations ?? throw new InvalidOperationException("Destinations are not attached yet.");

    /// <summary>Attaches the destinations (made after this, since they call back into it) and adds vw's apiRule.</summary>
    public void Attach(DestinationRegistry destinations)
    {
        _destinations = destinations;
        AddApiRule();
    }

    /// <summary>
    /// Removes every destination but vw's apiRule, which vw re-added at once. Leaving it in place, rather than
    /// removing and re-adding it, keeps the control connection that may have carried this very command (vw lost
    /// its reply). An apiRule changed through the API goes back to the configured one.
    /// </summary>
    public void DeleteAllDestinations()
    {
        foreach (var id in Destinations.Rules.Keys)
        {
            if (id != ApiRuleId || string.IsNullOrEmpty(ApiDestination))
            {
                Destinations.Remove(id);
            }
        }

        if (!string.IsNullOrEmpty(ApiDestination) &&
            !(Destinations.TryGet(ApiRuleId, out var current) && current == ConfiguredApiRule))
        {
            AddApiRule();
        }
    }

    private DestinationRule ConfiguredApiRule => new(ApiRuleId, DestinationRegistry.ControlStream, ApiDestination ?? "", "");

    /// <summary>Handles one text command of vw's WS/JSON API and returns the reply.</summary>
    public string Handle(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return Unrecognised;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return Unrecognised;
            }

            var root = document.RootElement;
            var verb = GetString(root, "verb");
            var what = GetString(root, "what");
            var which = GetString(root, "which") ?? "";
            return (verb, what) switch
            {
                ("healthcheck", _) => """{"healthcheck":"ok"}""",
                ("add", "destination") => AddDestination(root),
                ("add", "stream") => AddStream(root),
                ("list", "stream") => ListStream(which),
                ("list", "destination") => ListDestination(which),
                ("delete", "stream") => DeleteStream(which),
                ("delete", "destination") => DeleteDestination(which),
                _ => Unrecognised,
            };
        }
    }

    private const string Unrecognised = """{"error":"Unrecognised Command"}""";

    private string AddDestination(JsonElement root)
    {
        if (!TryGetProperty(root, "rule", out var ruleElement) || !VwJson.TryReadDestination(ruleElement, out var rule, out _))
        {
            return Unrecognised;
        }

        if (Destinations.TrySet(rule, out var stored, out var refused) != RuleRefusal.None)
        {
            return Text(w => WriteError(w, refused ?? "refused"));
        }

        return Text(w => VwJson.WriteDestination(w, stored, redactToken: false));
    }

    private string AddStream(JsonElement root)
    {
        if (!TryGetProperty(root, "rule", out var ruleElement) ||
            !VwJson.TryParseStream(Encoding.UTF8.GetBytes(ruleElement.GetRawText()), out var stream, out var feeds, out _))
        {
            return Unrecognised;
        }

        var result = _streams.TrySet(stream, feeds ?? []);
        return result.Refusal != RuleRefusal.None
            ? Text(w => WriteError(w, result.Error ?? "refused"))
            : Text(w => WriteStreamRule(w, result.Name, feeds is null ? null : result.Feeds));
    }

    private string ListStream(string which)
    {
        if (which == "all")
        {
            return Text(w => WriteStreams(w, _streams));
        }

        return Text(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("feeds");
            VwJson.WriteStringArrayOrNull(w, _streams.TryGetFeeds(which, out var feeds) ? feeds : null);
            w.WriteEndObject();
        });
    }

    private string ListDestination(string which)
    {
        if (which == "all")
        {
            return Text(w => WriteDestinations(w, Destinations));
        }

        var rule = Destinations.TryGet(which, out var found) ? found : new DestinationRule("", "", "", "");
        return Text(w => VwJson.WriteDestination(w, rule, redactToken: true));
    }

    private string DeleteStream(string which)
    {
        if (which == "all")
        {
            _streams.RemoveAll();
            return Deleted("deleteAll");
        }

        _streams.Remove(which);
        return Deleted(which);
    }

    private string DeleteDestination(string which)
    {
        if (which == ApiRuleId)
        {
            return """{"error":"Cannot delete apiRule"}""";
        }

        if (which == "all")
        {
            DeleteAllDestinations();
            return Deleted("deleteAll");
        }

        Destinations.Remove(which);
        return Deleted(which);
    }

    private void AddApiRule()
    {
        if (!string.IsNullOrEmpty(ApiDestination))
        {
            Destinations.Set(ConfiguredApiRule);
        }
    }

    /// <summary><c>{"stream":"…","feeds":[…]}</c>.</summary>
    public static void WriteStreamRule(Utf8JsonWriter writer, string name, IReadOnlyList<string>? feeds)
    {
        writer.WriteStartObject();
        writer.WriteString("stream", name);
        writer.WritePropertyName("feeds");
        VwJson.WriteStringArrayOrNull(writer, feeds);
        writer.WriteEndObject();
    }

    /// <summary><c>{"stream/front/large":["video0","audio0"]}</c>.</summary>
    public static void WriteStreams(Utf8JsonWriter writer, StreamRegistry streams)
    {
        writer.WriteStartObject();
        foreach (var (name, feeds) in streams.Rules)
        {
            writer.WritePropertyName(name);
            VwJson.WriteStringArrayOrNull(writer, feeds);
        }

        writer.WriteEndObject();
    }

    /// <summary><c>{"0":{"id":"0",…}}</c>, tokens left out.</summary>
    public static void WriteDestinations(Utf8JsonWriter writer, DestinationRegistry destinations)
    {
        writer.WriteStartObject();
        foreach (var (id, rule) in destinations.Rules.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            writer.WritePropertyName(id);
            VwJson.WriteDestination(writer, rule, redactToken: true);
        }

        writer.WriteEndObject();
    }

    private static string Deleted(string which) => Text(w =>
    {
        w.WriteStartObject();
        w.WriteString("deleted", which);
        w.WriteEndObject();
    });

    /// <summary>A refusal in the shape of vw's own error reply (<c>{"error":"..."}</c>).</summary>
    private static void WriteError(Utf8JsonWriter w, string error)
    {
        w.WriteStartObject();
        w.WriteString("error", error);
        w.WriteEndObject();
    }

    private static string Text(Action<Utf8JsonWriter> write) => Encoding.UTF8.GetString(VwJson.Serialize(write)).TrimEnd('\n');

    private static string? GetString(JsonElement root, string name) =>
        TryGetProperty(root, name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool TryGetProperty(JsonElement root, string name, out JsonElement value)
    {
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}
