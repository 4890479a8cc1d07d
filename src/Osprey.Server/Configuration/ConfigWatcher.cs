using System.Security.Cryptography;
using Osprey.Runtime;

namespace Osprey.Server.Configuration;

/// <summary>
/// Watches the config file and applies its sources when it changes. It watches the file's folder, not the file,
/// so that editors that write a new file and rename it over the old one, and symlink swaps, are seen; events are
/// debounced (an editor's save is several) and compared by content, so a write of the same text does nothing.
/// A file that does not parse or validate is refused with its line and the reason, and what runs stays.
/// </summary>
public sealed partial class ConfigWatcher : IDisposable
{
    private static readonly TimeSpan s_debounce = TimeSpan.FromMilliseconds(300);

    private readonly string _path;
    private readonly SourceCatalog _catalog;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private byte[] _lastHash = [];
    private int _running;

    /// <summary>Starts watching <paramref name="path"/>, whose content now is <paramref name="loaded"/>.</summary>
    public ConfigWatcher(string path, string loaded, SourceCatalog catalog, ILogger logger)
    {
        _path = Path.GetFullPath(path);
        _catalog = catalog;
        _logger = logger;
        _lastHash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(loaded));
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
                var config = OspreyConfig.Parse(text, _path);
                await _catalog.ApplyAsync(config.Sources, _path);
                Reloads++;
                Log.Reloaded(_logger, _path, config.Sources.Count);
            }
            catch (ConfigException ex)
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

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigReloaded, LogLevel.Information, "Config {Path} reloaded: {Sources} sources")]
        public static partial void Reloaded(ILogger logger, string path, int sources);

        [LoggerMessage(LogEvents.ConfigReloadRefused, LogLevel.Error, "Config {Path} not applied, the running configuration stays: {Reason}")]
        public static partial void ReloadRefused(ILogger logger, string path, string reason);
    }
}
