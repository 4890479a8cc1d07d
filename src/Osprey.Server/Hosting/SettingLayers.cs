using Osprey.Server.Configuration;

namespace Osprey.Server.Hosting;

/// <summary>
/// The three places a setting may come from, in the order they win: the flag, its environment variables
/// (<see cref="ConfigSetting.Environment"/>), the config file. Records where each value came from, so that a bad
/// value is reported by the name the operator wrote (<c>--max-viewers</c>, <c>OSPREY_MAX_VIEWERS</c> or
/// <c>osprey.yaml:12: limits.maxViewers</c>) and the config watcher can tell which settings a file change moves.
/// </summary>
internal sealed class SettingLayers(Func<string, string?> environment, OspreyConfig config)
{
    private readonly Dictionary<string, ResolvedSetting> _resolved = new(StringComparer.Ordinal);
    private readonly HashSet<string> _fileIgnored = new(StringComparer.Ordinal);

    /// <summary>Every setting given somewhere, by <see cref="ConfigSetting.Id"/>.</summary>
    public IReadOnlyDictionary<string, ResolvedSetting> Resolved => _resolved;

    /// <summary>True when a variable of <paramref name="flag"/>'s setting is set.</summary>
    public bool InEnvironment(string flag) => EnvironmentValue(ConfigSetting.OfFlag(flag)) is not null;

    /// <summary>
    /// The file's values for these flags are not used: settings that only make sense together (a certificate,
    /// an authentication method) are taken whole from the command line when it gives any of them.
    /// </summary>
    public void IgnoreFile(params string[] flags) => _fileIgnored.UnionWith(flags);

    /// <summary>The flag's value, else its variable's, else the file's; null when none gives it.</summary>
    public string? Value(string flag, string? fromFlag)
    {
        var setting = ConfigSetting.OfFlag(flag);
        if (fromFlag is not null)
        {
            return Record(setting, fromFlag, SettingLayer.Flag, flag);
        }

        if (EnvironmentValue(setting) is var (name, value))
        {
            return Record(setting, value, SettingLayer.Environment, name);
        }

        return FileValue(setting) is { Values: [var first, ..] } file ? Record(setting, first, SettingLayer.File, file.Label) : null;
    }

    /// <summary>The flags' values when any was given, else the variable's (split at spaces), else the file's list.</summary>
    public List<string> List(string flag, List<string> fromFlags, params char[] separators)
    {
        var setting = ConfigSetting.OfFlag(flag);
        if (fromFlags.Count > 0)
        {
            Record(setting, string.Join(' ', fromFlags), SettingLayer.Flag, flag);
            return fromFlags;
        }

        if (EnvironmentValue(setting) is var (name, value))
        {
            List<string> items = [.. value.Split([' ', '\n', '\t', .. separators], StringSplitOptions.RemoveEmptyEntries)];
            Record(setting, string.Join(' ', items), SettingLayer.Environment, name);
            return items;
        }

        if (FileValue(setting) is { Values.Count: > 0 } file)
        {
            Record(setting, string.Join(' ', file.Values), SettingLayer.File, file.Label);
            return [.. file.Values];
        }

        return fromFlags;
    }

    /// <summary>True when the flag is given, else what the variable (<c>1</c>/<c>true</c>, <c>0</c>/<c>false</c>) or the file says.</summary>
    /// <exception cref="FormatException">The variable is not one of those words.</exception>
    public bool Switch(string flag, bool fromFlag)
    {
        var setting = ConfigSetting.OfFlag(flag);
        if (fromFlag)
        {
            Record(setting, "true", SettingLayer.Flag, flag);
            return true;
        }

        if (EnvironmentValue(setting) is var (name, value))
        {
            var on = value.ToLowerInvariant() switch
            {
                "1" or "true" or "yes" or "on" => true,
                "0" or "false" or "no" or "off" => false,
                _ => throw new FormatException($"{name} '{value}' is not true or false (1 or 0)."),
            };
            Record(setting, on ? "true" : "false", SettingLayer.Environment, name);
            return on;
        }

        if (FileValue(setting) is { Values: [var text] } file)
        {
            Record(setting, text, SettingLayer.File, file.Label);
            return text == "true";
        }

        return false;
    }

    /// <summary>How a message names <paramref name="flag"/>'s value: the flag, the variable, or the file's line and key.</summary>
    public string Label(string flag) =>
        _resolved.TryGetValue(ConfigSetting.OfFlag(flag).Id, out var resolved) ? resolved.Label : flag;

    private string Record(ConfigSetting setting, string value, SettingLayer from, string label)
    {
        _resolved[setting.Id] = new ResolvedSetting(value, from, label);
        return value;
    }

    private (string Name, string Value)? EnvironmentValue(ConfigSetting setting)
    {
        foreach (var name in setting.Environment)
        {
            if (environment(name) is { Length: > 0 } value)
            {
                return (name, value);
            }
        }

        return null;
    }

    private ConfigValue? FileValue(ConfigSetting setting) =>
        !_fileIgnored.Contains(setting.Flag) && config.Values.TryGetValue(setting.Id, out var value) ? value : null;
}
