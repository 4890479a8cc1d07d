using Osprey.Feeds;
using Osprey.Runtime;
using Osprey.Sources;

namespace Osprey.Server.Configuration;

/// <summary>Where a source was configured.</summary>
public enum SourceOrigin
{
    /// <summary>A <c>--source</c> flag (or <c>OSPREY_SOURCE</c>): it wins over the file and is not written to it.</summary>
    Flag,

    /// <summary>The config file.</summary>
    Config,

    /// <summary>The sources API: set through it in this run, or read from the state file.</summary>
    Api,
}

/// <summary>The API's names of <see cref="SourceOrigin"/>.</summary>
public static class SourceOrigins
{
    /// <summary><c>flag</c>, <c>config</c> or <c>api</c>.</summary>
    public static string ToApiName(this SourceOrigin origin) => origin switch
    {
        SourceOrigin.Flag => "flag",
        SourceOrigin.Api => "api",
        _ => "config",
    };
}

/// <summary>A source as the API shows it.</summary>
/// <param name="Name">The feed name.</param>
/// <param name="Uri">The source URI.</param>
/// <param name="Origin">Where it was configured.</param>
public sealed record CatalogEntry(string Name, string Uri, SourceOrigin Origin);

/// <summary>
/// The configured sources and the one place that changes them: the file (on reload) and the sources API both go
/// through <see cref="ApplyAsync"/> and friends, which start an added source, restart a changed one alone, and stop a
/// removed one; unchanged sources and their viewers notice nothing. API changes are written back to the config
/// file (edited in place, keeping its comments), or to the state file when there is one, which is then read over
/// the config file's sources.
/// </summary>
public sealed partial class SourceCatalog : IDisposable
{
    private readonly SourceHost _host;
    private readonly FeedRegistry _feeds;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, string> _flags;
    private readonly Dictionary<string, string> _stateSources = new(StringComparer.Ordinal);
    private readonly HashSet<string> _stateRemoved = new(StringComparer.Ordinal);
    private readonly HashSet<string> _apiNames = new(StringComparer.Ordinal);
    private Dictionary<string, string> _file = new(StringComparer.Ordinal);
    private Dictionary<string, string> _config = new(StringComparer.Ordinal);

    /// <summary>
    /// A catalog over <paramref name="host"/>, whose flag-given sources are <paramref name="flagSources"/>; API
    /// changes go to <paramref name="statePath"/> (holding <paramref name="state"/> now) when given, else to <paramref name="file"/>.
    /// </summary>
    public SourceCatalog(
        SourceHost host, FeedRegistry feeds, ILoggerFactory loggers, IEnumerable<(string Name, string Uri)> flagSources, string? file, string? statePath = null, StateFile? state = null)
    {
        _host = host;
        _feeds = feeds;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Osprey.Configuration");
        _flags = flagSources.ToDictionary(s => s.Name, s => s.Uri, StringComparer.Ordinal);
        File = file;
        StatePath = statePath;
        if (state is not null)
        {
            foreach (var source in state.Sources)
            {
                _stateSources[source.Name] = source.Uri;
            }

            _stateRemoved.UnionWith(state.Removed);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _lock.Dispose();

    /// <summary>The config file; API changes are written to it when there is no <see cref="StatePath"/>.</summary>
    public string? File { get; }

    /// <summary>The state file API changes are written to instead of the config file; null when there is none.</summary>
    public string? StatePath { get; }

    /// <summary>True when API changes survive a restart (there is a config file or a state file).</summary>
    public bool Persists => File is not null || StatePath is not null;

    /// <summary>Every source, flag-given first, in name order within each origin.</summary>
    public IReadOnlyList<CatalogEntry> Entries
    {
        get
        {
            lock (_flags)
            {
                return [.. _flags.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => new CatalogEntry(f.Key, f.Value, SourceOrigin.Flag)),
                        .. _config.Where(c => !_flags.ContainsKey(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new CatalogEntry(c.Key, c.Value, OriginOf(c.Key)))];
            }
        }
    }

    private SourceOrigin OriginOf(string name) => _apiNames.Contains(name) || _stateSources.ContainsKey(name) ? SourceOrigin.Api : SourceOrigin.Config;

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
    /// Makes the config-file sources <paramref name="wanted"/> (the file's whole <c>sources:</c>), with the state
    /// file's changes over them: starts, restarts and stops only what differs. Flag-given names are left to their flags.
    /// </summary>
    /// <exception cref="ConfigException">A source is invalid: nothing is changed.</exception>
    public async Task ApplyAsync(IReadOnlyList<ConfiguredSource> wanted, string file, CancellationToken cancellationToken = default)
    {
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
            if (StatePath is not null)
            {
                foreach (var (name, uri) in _stateSources)
                {
                    if (Validate(name, uri) is { } error)
                    {
                        throw new ConfigException(StatePath, 0, $"source '{name}': {error}");
                    }
                }
            }

            var previous = _file;
            _file = wanted.ToDictionary(s => s.Name, s => s.Uri, StringComparer.Ordinal);
            foreach (var (name, uri) in _file)
            {
                if (previous.GetValueOrDefault(name) == uri)
                {
                    continue;
                }

                // An edit of the file's entry makes it the file's again, unless the state file holds the name.
                lock (_flags)
                {
                    _apiNames.Remove(name);
                }

                if (_stateSources.ContainsKey(name) || _stateRemoved.Contains(name))
                {
                    Log.OverriddenByState(_logger, name, file, StatePath!);
                }
            }

            await ReconcileAsync(Effective(), cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Adds or replaces one source (the API's PUT and POST), writing the state or config file.</summary>
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
            if (StatePath is not null)
            {
                await WriteStateAsync(sources => sources[name] = uri, removed => removed.Remove(name), cancellationToken);
            }
            else
            {
                await PersistAsync(text => YamlSourcesEditor.SetSource(text, name, uri, File!), cancellationToken);
                _file[name] = uri;
            }

            lock (_flags)
            {
                _apiNames.Add(name);
            }

            await ReconcileAsync(Effective(), cancellationToken);
            return added;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes one source (the API's DELETE), writing the state or config file.</summary>
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

            if (StatePath is not null)
            {
                var inFile = _file.ContainsKey(name);
                await WriteStateAsync(sources => sources.Remove(name), removed => _ = inFile && removed.Add(name), cancellationToken);
            }
            else
            {
                await PersistAsync(text => YamlSourcesEditor.RemoveSource(text, name, File!), cancellationToken);
                _file.Remove(name);
            }

            lock (_flags)
            {
                _apiNames.Remove(name);
            }

            await ReconcileAsync(Effective(), cancellationToken);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The config file's sources with the state file's changes over them.</summary>
    private Dictionary<string, string> Effective()
    {
        var next = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, uri) in _file)
        {
            if (!_stateRemoved.Contains(name))
            {
                next[name] = uri;
            }
        }

        foreach (var (name, uri) in _stateSources)
        {
            next[name] = uri;
        }

        return next;
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

    /// <summary>Writes the state file with a change made to copies of its sources and removed names; then keeps the change.</summary>
    private async Task WriteStateAsync(Action<Dictionary<string, string>> changeSources, Action<HashSet<string>> changeRemoved, CancellationToken cancellationToken)
    {
        var sources = new Dictionary<string, string>(_stateSources, StringComparer.Ordinal);
        var removed = new HashSet<string>(_stateRemoved, StringComparer.Ordinal);
        changeSources(sources);
        changeRemoved(removed);
        var state = new StateFile([.. sources.Select(s => new ConfiguredSource(s.Key, s.Value, 0))], [.. removed]);
        await AtomicFile.WriteAsync(StatePath!, state.Write(), cancellationToken);
        lock (_flags)
        {
            _stateSources.Clear();
            foreach (var (name, uri) in sources)
            {
                _stateSources[name] = uri;
            }

            _stateRemoved.Clear();
            _stateRemoved.UnionWith(removed);
        }
    }

    /// <summary>Edits the config file in place (atomically), when there is one.</summary>
    private async Task PersistAsync(Func<string, string> edit, CancellationToken cancellationToken)
    {
        if (File is null)
        {
            return;
        }

        var text = System.IO.File.Exists(File) ? await System.IO.File.ReadAllTextAsync(File, cancellationToken) : "";
        await AtomicFile.WriteAsync(File, edit(text), cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigSourceAdded, LogLevel.Information, "Source {Name} added: {Uri}")]
        public static partial void SourceAdded(ILogger logger, string name, string uri);

        [LoggerMessage(LogEvents.ConfigSourceChanged, LogLevel.Information, "Source {Name} changed: {Uri}; restarted")]
        public static partial void SourceChanged(ILogger logger, string name, string uri);

        [LoggerMessage(LogEvents.ConfigSourceRemoved, LogLevel.Information, "Source {Name} removed")]
        public static partial void SourceRemoved(ILogger logger, string name);

        [LoggerMessage(LogEvents.ConfigSourceOverriddenByState, LogLevel.Warning, "Source {Name} of {File} is not applied: the state file {State} holds the sources API's change of it (delete it there to use the file's)")]
        public static partial void OverriddenByState(ILogger logger, string name, string file, string state);
    }
}
