using System.Globalization;
using System.Numerics;

namespace Osprey.Sources;

/// <summary>
/// The options of a source URI, <c>scheme:body?key=value&amp;...</c>, parsed once for every source family, with
/// errors that name the URI. ffmpeg sources put theirs after <c>#</c>, because their body is ffmpeg's own
/// arguments, which may hold a <c>?</c>.
/// </summary>
public sealed class SourceOptions
{
    /// <summary>The most options one URI may carry; a URI is typed by a person, not generated.</summary>
    public const int MaxOptions = 64;

    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    private SourceOptions(string uri, string body)
    {
        Uri = uri;
        Body = body;
    }

    /// <summary>The whole URI, as given.</summary>
    public string Uri { get; }

    /// <summary>The URI up to the options separator (scheme included).</summary>
    public string Body { get; }

    /// <summary>The option keys given, in no particular order.</summary>
    public IEnumerable<string> Keys => _values.Keys;

    /// <summary>
    /// Splits <paramref name="uri"/> at the first <paramref name="separator"/> into its body and its
    /// <c>key=value</c> pairs (percent-decoded; a key without <c>=</c> has the value ""; a repeated key keeps
    /// the last value).
    /// </summary>
    /// <exception cref="FormatException">More than <see cref="MaxOptions"/> options.</exception>
    public static SourceOptions Parse(string uri, char separator = '?')
    {
        ArgumentNullException.ThrowIfNull(uri);
        var at = uri.IndexOf(separator, StringComparison.Ordinal);
        var options = new SourceOptions(uri, at < 0 ? uri : uri[..at]);
        if (at < 0)
        {
            return options;
        }

        foreach (var pair in uri[(at + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            if (options._values.Count == MaxOptions)
            {
                throw options.Error($"more than {MaxOptions} options.");
            }

            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = System.Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            options._values[key] = equals < 0 ? "" : System.Uri.UnescapeDataString(pair[(equals + 1)..]);
        }

        return options;
    }

    /// <summary>The value of <paramref name="key"/>, if given.</summary>
    public bool TryGet(string key, out string value) => _values.TryGetValue(key, out value!);

    /// <summary>The value of <paramref name="key"/>, or <paramref name="fallback"/> when not given.</summary>
    public string GetString(string key, string fallback) => _values.GetValueOrDefault(key, fallback);

    /// <summary>A whole-number option from <paramref name="min"/> to <paramref name="max"/>, or <paramref name="fallback"/>.</summary>
    /// <exception cref="FormatException">The value is not a whole number, or out of range.</exception>
    public int GetInt(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!_values.TryGetValue(key, out var text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw Error($"{key}='{text}' is not a whole number{Range(min, max)}.");
        }

        return value >= min && value <= max ? value : throw Error($"{key}='{text}' must be a whole number{Range(min, max)}.");
    }

    /// <summary>A number option from <paramref name="min"/> to <paramref name="max"/>, or <paramref name="fallback"/>.</summary>
    /// <exception cref="FormatException">The value is not a number, or out of range.</exception>
    public double GetDouble(string key, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!_values.TryGetValue(key, out var text))
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw Error($"{key}='{text}' is not a number{Range(min, max)}.");
        }

        return value >= min && value <= max ? value : throw Error($"{key}='{text}' must be a number{Range(min, max)}.");
    }

    /// <summary>Refuses any option not in <paramref name="known"/>, naming the ones there are.</summary>
    /// <exception cref="FormatException">An option is not known.</exception>
    public void RejectUnknown(params string[] known)
    {
        foreach (var key in _values.Keys)
        {
            if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                throw Error($"unknown option '{key}' (known: {string.Join(", ", known)}).");
            }
        }
    }

    /// <summary>An error about this URI: <c>Source '…': message</c>.</summary>
    public FormatException Error(string message) => new($"Source '{Uri}': {message}");

    private static string Range<T>(T min, T max)
        where T : IMinMaxValue<T>, IEqualityOperators<T, T, bool>, IFormattable =>
        min == T.MinValue && max == T.MaxValue ? ""
        : max == T.MaxValue ? string.Create(CultureInfo.InvariantCulture, $", at least {min}")
        : string.Create(CultureInfo.InvariantCulture, $" from {min} to {max}");
}
