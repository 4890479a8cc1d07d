using Osprey.Routing;
using Osprey.Runtime;

namespace Osprey.Server.Configuration;

/// <summary>
/// The config file's vw streams and destinations, applied through the same <see cref="StreamRegistry"/> and
/// <see cref="DestinationRegistry"/> as vw's API (which stays as vw's and is not written to the file). At start
/// every rule is set; on reload only the file's changes are: a changed rule is set again (a stream re-wired, a
/// destination's client replaced), a rule gone from the file is removed, an unchanged one is not touched, so its
/// viewers and its destination's connection carry on.
/// </summary>
public sealed partial class VwRuleCatalog
{
    private readonly StreamRegistry _streams;
    private readonly DestinationRegistry _destinations;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private Dictionary<string, ConfiguredStream> _appliedStreams = new(StringComparer.Ordinal);
    private Dictionary<string, DestinationRule> _appliedDestinations = new(StringComparer.Ordinal);

    /// <summary>A catalog over the registries vw's API uses.</summary>
    public VwRuleCatalog(StreamRegistry streams, DestinationRegistry destinations, ILogger logger)
    {
        _streams = streams;
        _destinations = destinations;
        _logger = logger;
    }

    /// <summary>
    /// Checks what the registries would refuse before anything is applied: more rules than the limits, a
    /// destination the target policy denies.
    /// </summary>
    /// <exception cref="ConfigException">A rule would be refused; the message has its line.</exception>
    public void Validate(OspreyConfig config, string file)
    {
        if (config.Streams.Count > _streams.MaxStreams)
        {
            throw new ConfigException(file, config.Streams[_streams.MaxStreams].Line, $"streams: {config.Streams.Count} streams, more than limits.maxStreams ({_streams.MaxStreams})");
        }

        if (config.Destinations.Count > _destinations.MaxDestinations)
        {
            throw new ConfigException(file, config.Destinations[_destinations.MaxDestinations].Line, $"destinations: {config.Destinations.Count} destinations, more than limits.maxDestinations ({_destinations.MaxDestinations})");
        }

        foreach (var destination in config.Destinations)
        {
            if (_destinations.TargetPolicy.CheckRule(destination.Rule) is { } refused)
            {
                throw new ConfigException(file, destination.Line, $"destination '{destination.Rule.Id}': {refused} (in the file: limits.allowDestinations, limits.allowInsecureToken)");
            }
        }
    }

    /// <summary>Applies the file's rules: only what differs from what the file said last.</summary>
    /// <exception cref="ConfigException">A rule would be refused (see <see cref="Validate"/>): nothing is changed.</exception>
    public void Apply(OspreyConfig config, string file)
    {
        Validate(config, file);
        lock (_lock)
        {
            var streams = config.Streams.ToDictionary(s => s.Name, StringComparer.Ordinal);
            foreach (var (name, _) in _appliedStreams)
            {
                if (!streams.ContainsKey(name) && _streams.Remove(name))
                {
                    Log.RuleRemoved(_logger, "stream", name);
                }
            }

            var destinations = config.Destinations.ToDictionary(d => d.Rule.Id, StringComparer.Ordinal);
            foreach (var (id, _) in _appliedDestinations)
            {
                if (!destinations.ContainsKey(id) && _destinations.Remove(id))
                {
                    Log.RuleRemoved(_logger, "destination", id);
                }
            }

            var appliedStreams = new Dictionary<string, ConfiguredStream>(StringComparer.Ordinal);
            foreach (var stream in config.Streams)
            {
                if (_appliedStreams.TryGetValue(stream.Name, out var previous) && previous.SameRule(stream))
                {
                    appliedStreams[stream.Name] = stream;
                    continue;
                }

                var result = _streams.TrySet(stream.Name, stream.Feeds);
                if (result.Refusal == RuleRefusal.None)
                {
                    appliedStreams[stream.Name] = stream;
                }
                else
                {
                    Log.RuleRefused(_logger, file, stream.Line, "stream", stream.Name, result.Error ?? "refused");
                }
            }

            var appliedDestinations = new Dictionary<string, DestinationRule>(StringComparer.Ordinal);
            foreach (var destination in config.Destinations)
            {
                var rule = destination.Rule;
                if (_appliedDestinations.TryGetValue(rule.Id, out var previous) && previous == rule)
                {
                    appliedDestinations[rule.Id] = rule;
                    continue;
                }

                if (_destinations.TrySet(rule, out _, out var error) == RuleRefusal.None)
                {
                    appliedDestinations[rule.Id] = rule;
                }
                else
                {
                    Log.RuleRefused(_logger, file, destination.Line, "destination", rule.Id, error ?? "refused");
                }
            }

            _appliedStreams = appliedStreams;
            _appliedDestinations = appliedDestinations;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigRuleRemoved, LogLevel.Information, "Config: vw {Kind} {Name} removed (no longer in the file)")]
        public static partial void RuleRemoved(ILogger logger, string kind, string name);

        [LoggerMessage(LogEvents.ConfigRuleRefused, LogLevel.Error, "Config {File}:{Line}: vw {Kind} {Name} not applied: {Reason}")]
        public static partial void RuleRefused(ILogger logger, string file, int line, string kind, string name, string reason);
    }
}
