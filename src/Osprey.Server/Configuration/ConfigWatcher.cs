using System.Security.Cryptography;
using Osprey.Runtime;

namespace Osprey.Server.Configuration;

/// <summary>A config file as loaded: its content, and every setting as flags, environment and file make it.</summary>
/// <param name="Config">The file's content.</param>
/// <param name="Settings">The settings given anywhere, by id, with where each came from.</param>
public sealed record ConfigLoad(OspreyConfig Config, IReadOnlyDictionary<string, ResolvedSetting> Settings);

/// <summary>
/// Watches the config file and applies its sources, vw streams and destinations when it changes. It watches the
/// file's folder, not the file, so that editors that write a new file and rename it over the old one, and symlink
/// swaps, are seen; events are debounced (an editor's save is several) and compared by content, so a write of the
/// same text does nothing. A file that does not parse or validate (every setting by the rules it has at start) is
/// refused with its line and the reason, and what runs stays. A changed setting that is read only at start is
/// logged as needing a restart; one a flag or variable overrides, as having no effect.
/// </summary>
public sealed partial class ConfigWatcher : IDisposable
{
    private static readonly TimeSpan s_debounce = TimeSpan.FromMilliseconds(300);

    private readonly string _path;
    private readonly SourceCatalog _catalog;
    private readonly VwRuleCatalog _rules;
    private readonly Func<string, ConfigLoad> _load;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private byte[] _lastHash = [];
    private ConfigLoad _current;
    private int _running;

    /// <summary>
    /// Starts watching <paramref name="path"/>, whose text now is <paramref name="text"/>, loaded as <paramref name="current"/>;
    /// <paramref name="load"/> parses and validates a new text as at start (throwing <see cref="FormatException"/> or <see cref="ConfigException"/>).
    /// </summary>
    public ConfigWatcher(string path, string text, ConfigLoad current, Func<string, ConfigLoad> load, SourceCatalog catalog, VwRuleCatalog rules, ILogger logger)
    {
        _path = Path.GetFullPath(path);
        _catalog = catalog;
        _rules = rules;
        _load = load;
        _current = current;
        _logger = logger;
        _lastHash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text));
        _timer = new Timer(_ => _ = ReloadAsync(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            IncludeSubdirectories = false,
        };
        _watcher.Changed += OnEvent;
        _watcher.Created += OnEvent;
        _watcher.Renamed += OnEvent;
        _watcher.Deleted += OnEvent;
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Reloads reached the catalog (for tests and the log).</summary>
    public int Reloads { get; private set; }

    /// <summary>Reloads refused because the file was broken.</summary>
    public int Refused { get; private set; }

    /// <inheritdoc/>
    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }

    private void OnEvent(object sender, FileSystemEventArgs e)
    {
        // Any event in the folder may be the file's (a rename onto it, a symlink retargeted): the content decides.
        _timer.Change(s_debounce, Timeout.InfiniteTimeSpan);
    }

    private async Task ReloadAsync()
    {
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            _timer.Change(s_debounce, Timeout.InfiniteTimeSpan); // one at a time: look again after this one
            return;
        }

        try
        {
            string text;
            try
            {
                text = File.Exists(_path) ? await File.ReadAllTextAsync(_path) : "";
            }
            catch (IOException ex)
            {
                Log.ReloadRefused(_logger, _path, ex.Message);
                return;
            }

            var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text));
            lock (_lock)
            {
                if (hash.AsSpan().SequenceEqual(_lastHash))
                {
                    return;
                }

                _lastHash = hash;
            }

            try
            {
                var next = _load(text);
                _rules.Validate(next.Config, _path);
                await _catalog.ApplyAsync(next.Config.Sources, _path);
                _rules.Apply(next.Config, _path);
                Reloads++;
                Log.Reloaded(_logger, _path, next.Config.Sources.Count, next.Config.Streams.Count, next.Config.Destinations.Count);
                ReportSettings(_current, next);
                _current = next;
            }
            catch (Exception ex) when (ex is ConfigException or FormatException)
            {
                Refused++;
                Log.ReloadRefused(_logger, _path, ex.Message);
            }
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>Says which changed settings wait for a restart, and which a flag or variable overrides.</summary>
    private void ReportSettings(ConfigLoad previous, ConfigLoad next)
    {
        foreach (var setting in ConfigSetting.All)
        {
            var before = previous.Config.Values.GetValueOrDefault(setting.Id)?.Values ?? [];
            var after = next.Config.Values.GetValueOrDefault(setting.Id)?.Values ?? [];
            if (before.SequenceEqual(after, StringComparer.Ordinal))
            {
                continue;
            }

            var was = previous.Settings.GetValueOrDefault(setting.Id);
            var now = next.Settings.GetValueOrDefault(setting.Id);
            if (was?.Value == now?.Value)
            {
                Log.SettingOverridden(_logger, _path, setting.Id, now?.Label ?? setting.Flag);
                continue;
            }

            var change = setting.Secret ? "value not shown" : $"{Describe(was)} -> {Describe(now)}";
            var note = setting.Section == "tls"
                ? "; the certificate and key files themselves are reloaded whenever they change"
                : "";
            Log.SettingNeedsRestart(_logger, _path, setting.Id, change, note);
        }

        static string Describe(ResolvedSetting? setting) => setting is null ? "(default)" : setting.Value;
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigReloaded, LogLevel.Information, "Config {Path} reloaded: {Sources} sources, {Streams} vw streams, {Destinations} vw destinations")]
        public static partial void Reloaded(ILogger logger, string path, int sources, int streams, int destinations);

        [LoggerMessage(LogEvents.ConfigSettingNeedsRestart, LogLevel.Warning, "Config {Path}: {Setting} changed ({Change}); it is read at start: restart Osprey to apply it{Note}")]
        public static partial void SettingNeedsRestart(ILogger logger, string path, string setting, string change, string note);

        [LoggerMessage(LogEvents.ConfigSettingOverridden, LogLevel.Information, "Config {Path}: {Setting} changed in the file, but {Winner} wins over it: no effect")]
        public static partial void SettingOverridden(ILogger logger, string path, string setting, string winner);

        [LoggerMessage(LogEvents.ConfigReloadRefused, LogLevel.Error, "Config {Path} not applied, the running configuration stays: {Reason}")]
        public static partial void ReloadRefused(ILogger logger, string path, string reason);
    }
}
