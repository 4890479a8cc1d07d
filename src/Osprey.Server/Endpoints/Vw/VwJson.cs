using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Osprey.Routing;

namespace Osprey.Server.Endpoints.Vw;

/// <summary>
/// vw's JSON, byte for byte where clients can see it: Go's encoding/json field names and order, a newline after
/// each body (Go's json.Encoder), and Go's lenient decoding (case-insensitive names, unknown fields ignored).
/// Hand-written with Utf8JsonWriter and JsonDocument: trim-safe and exact.
/// </summary>
internal static class VwJson
{
    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A stream rule as vw posts it: <c>{"stream":"…","feeds":[…]}</c>.</summary>
    public static bool TryParseStream(ReadOnlySpan<byte> json, out string stream, out List<string>? feeds, out string? error)
    {
        stream = "";
        feeds = null;
        if (!TryParseObject(json, out var document, out error))
        {
            return false;
        }

        using (document)
        {
            foreach (var property in document!.RootElement.EnumerateObject())
            {
                if (property.NameEquals("stream") || property.Name.Equals("stream", StringComparison.OrdinalIgnoreCase))
                {
                    if (!TryGetString(property.Value, out stream, out error))
                    {
                        return false;
                    }
                }
                else if (property.Name.Equals("feeds", StringComparison.OrdinalIgnoreCase))
                {
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        feeds = null;
                        continue;
                    }

                    if (property.Value.ValueKind != JsonValueKind.Array)
                    {
                        error = $"json: cannot unmarshal {GoKind(property.Value)} into Go struct field Stream.feeds of type []string";
                        return false;
                    }

                    feeds = [];
                    foreach (var item in property.Value.EnumerateArray())
                    {
                        if (!TryGetString(item, out var feed, out error))
                        {
                            return false;
                        }

                        feeds.Add(feed);
                    }
                }
            }
        }

        return true;
    }

    /// <summary>A destination rule as vw posts it: <c>{"stream":"…","destination":"…","id":"…","token":"…"}</c>.</summary>
    public static bool TryParseDestination(ReadOnlySpan<byte> json, out DestinationRule rule, out string? error)
    {
        rule = new DestinationRule("", "", "", "");
        if (!TryParseObject(json, out var document, out error))
        {
            return false;
        }

        using (document)
        {
            return TryReadDestination(document!.RootElement, out rule, out error);
        }
    }

    /// <summary>Reads a destination rule from a JSON object (also the <c>rule</c> of a control command).</summary>
    public static bool TryReadDestination(JsonElement element, out DestinationRule rule, out string? error)
    {
        string id = "", stream = "", destination = "", token = "";
        string? pin = null;
        error = null;
        rule = new DestinationRule("", "", "", "");
        if (element.ValueKind != JsonValueKind.Object)
        {
            error = $"json: cannot unmarshal {GoKind(element)} into Go value of type Rule";
            return false;
        }

        foreach (var property in element.EnumerateObject())
        {
            var field = property.Name.ToLowerInvariant();
            if (field is not ("id" or "stream" or "destination" or "token" or "pin"))
            {
                continue; // Go ignores unknown fields
            }

            if (!TryGetString(property.Value, out var value, out error))
            {
                return false;
            }

            switch (field)
            {
                case "id":
                    id = value;
                    break;
                case "stream":
                    stream = value;
                    break;
                case "destination":
                    destination = value;
                    break;
                case "pin":
                    // Osprey's own: the SHA-256 of the certificate this rule's wss:// relay must present.
                    pin = value.Length > 0 ? value : null;
                    break;
                default:
                    token = value;
                    break;
            }
        }

        rule = new DestinationRule(id, stream.StartsWith('/') ? stream[1..] : stream, destination, token) { Pin = pin };
        return true;
    }

    /// <summary><c>{"id":"…","stream":"…","destination":"…","token":"…"}</c>.</summary>
    public static void WriteDestination(Utf8JsonWriter writer, DestinationRule rule, bool redactToken)
    {
        writer.WriteStartObject();
        writer.WriteString("id", rule.Id);
        writer.WriteString("stream", rule.Stream);
        writer.WriteString("destination", rule.Destination);
        // vw listed tokens to anyone who asked; Osprey echoes a token only to the request that set it.
        writer.WriteString("token", redactToken ? "" : rule.Token);
        if (rule.Pin is { Length: > 0 } pin)
        {
            writer.WriteString("pin", pin);
        }

        writer.WriteEndObject();
    }

    /// <summary>Serializes with <paramref name="write"/> and appends the newline Go's json.Encoder writes.</summary>
    public static byte[] Serialize(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            write(writer);
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A JSON string body, e.g. <c>"0"</c>.</summary>
    public static byte[] String(string value) => Serialize(w => w.WriteStringValue(value));

    public static void WriteStringArrayOrNull(Utf8JsonWriter writer, IReadOnlyList<string>? values)
    {
        if (values is null)
        {
            writer.WriteNullValue();
            return;
        }

        writer.WriteStartArray();
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    private static bool TryParseObject(ReadOnlySpan<byte> json, out JsonDocument? document, out string? error)
    {
        document = null;
        error = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
            if (!JsonDocument.TryParseValue(ref reader, out document))
            {
                error = "unexpected EOF";
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = json.IsEmpty ? "EOF" : ex.Message;
            return false;
        }

        if (document!.RootElement.ValueKind != JsonValueKind.Object)
        {
            error = $"json: cannot unmarshal {GoKind(document.RootElement)} into Go value of type Rule";
            document.Dispose();
            document = null;
            return false;
        }

        return true;
    }

    private static bool TryGetString(JsonElement value, out string text, out string? error)
    {
        error = null;
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                text = value.GetString()!;
                return true;
            case JsonValueKind.Null:
                text = ""; // Go leaves the field at its zero value
                return true;
            default:
                text = "";
                error = $"json: cannot unmarshal {GoKind(value)} into Go value of type string";
                return false;
        }
    }

    private static string GoKind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "bool",
        JsonValueKind.Array => "array",
        JsonValueKind.Object => "object",
        JsonValueKind.String => "string",
        _ => "null",
    };
}
