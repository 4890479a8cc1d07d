using System.Text;
using Osprey.Feeds;
using Osprey.Runtime;
using Osprey.Sources;

namespace Osprey.Server.Configuration;

/// <summary>Where a source was configured.</summary>
public enum SourceOrigin
{
    /// <summary>A <c>--source</c> flag (or <c>OSPREY_SOURCE</c>): it wins over the file and is not written to it.</summary>
    Flag,

    /// <summary>The config file or the sources API (which writes the file).</summary>
    Config,
}

/// <summary>A source as the API shows it.</summary>
/// <param name="Name">The feed name.</param>
/// <param name="Uri">The source URI.</param>
/// <param name="Origin">Where it was configured.</param>
public sealed record CatalogEntry(string Name, string Uri, SourceOrigin Origin);

/// <summary>
/// The configured sources and the one place that changes them: the file (on reload) and the sources API both go
/// through <see cref="ApplyAsync"/> and friends, which start an added source, restart a changed one alone, and stop a
/// removed one; unchanged sources and their viewers notice nothing. API changes are written back to the file
/// (edited in place, keeping its comments) when Osprey has one.
/// </summary>
public sealed partial class SourceCatalog : IDisposable
{
    private readonly SourceHost _host;
    private readonly FeedRegistry _feeds;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, string> _flags;
    private Dictionary<string, string> _config = new(StringComparer.Ordinal);

    /// <summary>A catalog over <paramref name="host"/>, whose flag-given sources are <paramref name="flagSources"/>.</summary>
    public SourceCatalog(SourceHost host, FeedRegistry feeds, ILoggerFactory loggers, IEnumerable<(string Name, string Uri)> flagSources, string? file)
    {
        _host = host;
        _feeds = feeds;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Osprey.Configuration");
        _flags = flagSources.ToDictionary(s => s.Name, s => s.Uri, StringComparer.Ordinal);
        File = file;
    }

    /// <inheritdoc/>
    public void Dispose() => _lock.Dispose();

    /// <summary>The config file API changes are written to; null when there is none (changes last until a restart).</summary>
    public string? File { get; }

    /// <summary>Every source, flag-given first, in name order within each origin.</summary>
    public IReadOnlyList<CatalogEntry> Entries
    {
        get
        {
            lock (_flags)
            {
                return [.. _flags.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => new CatalogEntry(f.Key, f.Value, SourceOrigin.Flag)),
                        .. _config.Where(c => !_flags.ContainsKey(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new CatalogEntry(c.Key, c.Value, SourceOrigin.Config))];
            }
        }
    }

    /// <summary>The source of <paramref name="name"/>, if one is configured.</summary>
    public CatalogEntry? Find(string name) => Entries.FirstOrDefault(e => e.Name == name);

    /// <summary>Checks a name and URI as the file and the API both must; null when they are good, else why not.</summary>
    public string? Validate(string name, string uri)
    {
        if (!FeedNames.IsValid(name))
        {
            return $"'{name}' is not a feed name: it {FeedNames.Rule}.";
        }

        if (_feeds.ShadowedBy(name) is { } shadowed && !_host.Names.Contains(name))
        {
            return shadowed;
        }

        try
        {
            _ = SourceFactory.Create(uri);
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }

        return null;
    }

    /// <summary>
    /// Makes the config-file sources <paramref name="wanted"/> (the file's whole <c>sources:</c>): starts, restarts
    /// and stops only what differs. Flag-given names are left to their flags.
    /// </summary>
    /// <exception cref="ConfigException">A source is invalid: nothing is changed.</exception>
    public async Task ApplyAsync(IReadOnlyList<ConfiguredSource> wanted, string file, CancellationToken cancellationToken = default)
    {
        var errors = new StringBuilder();
        foreach (var source in wanted)
        {
            if (Validate(source.Name, source.Uri) is { } error)
            {
                throw new ConfigException(file, source.Line, $"source '{source.Name}': {error}");
            }
        }

        await _lock.WaitAsync(cancellationToken);
        try
        {
            var next = wanted.ToDictionary(s => s.Name, s => s.Uri, StringComparer.Ordinal);
            await ReconcileAsync(next, cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Adds or replaces one source (the API's PUT and POST), writing the file when there is one.</summary>
    /// <returns>True when the source is new.</returns>
    /// <exception cref="ArgumentException">The name or URI is invalid (the message says why).</exception>
    /// <exception cref="InvalidOperationException">The name is a flag-given source's or a publisher's feed.</exception>
    public async Task<bool> SetAsync(string name, string uri, CancellationToken cancellationToken = default)
    {
        if (Validate(name, uri) is { } error)
        {
            throw new ArgumentException(error);
        }

        await _lock.WaitAsync(cancellationToken);
        try
        {
            lock (_flags)
            {
                if (_flags.ContainsKey(name))
                {
                    throw new InvalidOperationException($"Source '{name}' is given by a --source flag, which wins over the file; change the flag.");
                }
            }

            if (!_config.ContainsKey(name) && _feeds.TryGet(name, out _))
            {
                throw new InvalidOperationException($"Feed '{name}' exists and is not a configured source (a publisher's feed).");
            }

            var added = !_config.ContainsKey(name);
            await PersistAsync(text => YamlSourcesEditor.SetSource(text, name, uri, File!), cancellationToken);
            var next = new Dictionary<string, string>(_config, StringComparer.Ordinal) { [name] = uri };
            await ReconcileAsync(next, cancellationToken);
            return added;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes one source (the API's DELETE), writing the file when there is one.</summary>
    /// <returns>False when no config source has that name.</returns>
    /// <exception cref="InvalidOperationException">The name is a flag-given source's.</exception>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            lock (_flags)
            {
                if (_flags.ContainsKey(name))
                {
                    throw new InvalidOperationException($"Source '{name}' is given by a --source flag; remove the flag.");
                }
            }

            if (!_config.ContainsKey(name))
            {
                return false;
            }

            await PersistAsync(text => YamlSourcesEditor.RemoveSource(text, name, File!), cancellationToken);
            var next = new Dictionary<string, string>(_config, StringComparer.Ordinal);
            next.Remove(name);
            await ReconcileAsync(next, cancellationToken);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task ReconcileAsync(Dictionary<string, string> next, CancellationToken cancellationToken)
    {
        foreach (var (name, _) in _config)
        {
            if (!next.ContainsKey(name) && !_flags.ContainsKey(name) && await _host.RemoveAsync(name, cancellationToken))
            {
                Log.SourceRemoved(_logger, name);
            }
        }

        foreach (var (name, uri) in next)
        {
            if (_flags.ContainsKey(name))
            {
                continue; // the flag wins
            }

            var running = _host.UriOf(name);
            if (running is null)
            {
                _host.Add(name, SourceFactory.Create(uri, loggers: _loggers));
                Log.SourceAdded(_logger, name, uri);
            }
            else if (running != uri)
            {
                await _host.ReplaceAsync(name, SourceFactory.Create(uri, loggers: _loggers), cancellationToken);
                Log.SourceChanged(_logger, name, uri);
            }
        }

        lock (_flags)
        {
            _config = next;
        }
    }

    /// <summary>Edits the file (write a temporary file beside it, then rename: a reader never sees half a file).</summary>
    private async Task PersistAsync(Func<string, string> edit, CancellationToken cancellationToken)
    {
        if (File is null)
        {
            return;
        }

        var text = System.IO.File.Exists(File) ? await System.IO.File.ReadAllTextAsync(File, cancellationToken) : "";
        var edited = edit(text);
        var temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(File))!, "." + Path.GetFileName(File) + ".tmp");
        await System.IO.File.WriteAllTextAsync(temporary, edited, new UTF8Encoding(false), cancellationToken);
        if (System.IO.File.Exists(File) && !OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(temporary, System.IO.File.GetUnixFileMode(File));
        }

        System.IO.File.Move(temporary, File, overwrite: true);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigSourceAdded, LogLevel.Information, "Source {Name} added: {Uri}")]
        public static partial void SourceAdded(ILogger logger, string name, string uri);

        [LoggerMessage(LogEvents.ConfigSourceChanged, LogLevel.Information, "Source {Name} changed: {Uri}; restarted")]
        public static partial void SourceChanged(ILogger logger, string name, string uri);

        [LoggerMessage(LogEvents.ConfigSourceRemoved, LogLevel.Information, "Source {Name} removed")]
        public static partial void SourceRemoved(ILogger logger, string name);
    }
}
