namespace Osprey.LoadTest;

/// <summary>Entry point of the osprey-load command.</summary>
internal static class Program
{
    private const int ExitCompleted = 0;
    private const int ExitNoViewer = 1;
    private const int ExitBadArguments = 2;
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> Main(string[] args)
    {
        // Before the environment is changed below: the servers it starts must not inherit that setting.
        if (args.Length > 0 && args[0] == "startup")
        {
            return await StartupProbe.RunAsync(args[1..], Console.Out, Console.Error);
        }

        // Run socket continuations on the epoll threads instead of hopping to the thread pool: a viewer's work per
        // completion is a few hundred instructions and never blocks, and on the 2-core box shared with the server
        // this halved the tool's CPU (50 viewers x 30 fps: 1.2 -> 0.6 CPU s per 8 s window) and cut its p95 latency.
        // It is read once when the first socket is created, so it must be set before anything touches a socket;
        // an explicit setting in the environment wins.
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        var stderr = Console.Error;
        if (args.Length > 0 && args[0] == "hls")
        {
            return await HlsAsync(args[1..], stderr);
        }

        var command = CommandLine.Parse(args, line => stderr.WriteLine($"[{DateTime.Now:HH:mm:ss.fff}] {line}"));
        if (command.Help)
        {
            Console.Out.WriteLine(CommandLine.Usage);
            return ExitCompleted;
        }

        if (command.Soak is { } soak)
        {
            return await SoakAsync(soak, command.JsonPath, stderr);
        }

        if (command.Options is not { } options)
        {
            stderr.WriteLine($"osprey-load: {command.Error}");
            stderr.WriteLine(CommandLine.Usage);
            return ExitBadArguments;
        }

        // Ctrl+C ends the window early and still prints what was measured.
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };

        LoadReport report;
        try
        {
            report = await LoadRunner.RunAsync(options, cts.Token);
        }
        catch (ArgumentException ex)
        {
            // The runner names the parameter for API callers; on the command line that suffix is noise.
            var message = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
            stderr.WriteLine($"osprey-load: {message}");
            return ExitBadArguments;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("osprey-load: cancelled before any viewer connected");
            return ExitNoViewer;
        }

        report.WriteText(Console.Out);
        if (command.JsonPath is { } path)
        {
            try
            {
                await File.WriteAllTextAsync(path, report.ToJson(), CancellationToken.None);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"osprey-load: cannot write {path}: {ex.Message}");
                return ExitNoViewer;
            }
        }

        // In ts mode a publisher alone (no viewers asked for) is a complete run.
        var publisherOnly = report.ViewersRequested == 0 && report.Ts?.Publisher is { Connected: true };
        return report.ViewersConnected == 0 && !publisherOnly ? ExitNoViewer : ExitCompleted;
    }

    /// <summary><c>osprey-load hls --url URL [--clients N] [--seconds S] [--ramp S] [--json PATH]</c>: simulated LL-HLS clients.</summary>
    private static async Task<int> HlsAsync(string[] args, TextWriter stderr)
    {
        Uri? url = null;
        int clients = 100;
        double seconds = 10, ramp = 2;
        string? json = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--url" when Uri.TryCreate(value, UriKind.Absolute, out var u):
                    url = u;
                    i++;
                    break;
                case "--clients" when int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 100_000:
                    clients = n;
                    i++;
                    break;
                case "--seconds" when double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 3600:
                    seconds = s;
                    i++;
                    break;
                case "--ramp" when double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 600:
                    ramp = r;
                    i++;
                    break;
                case "--json" when value is not null:
                    json = value;
                    i++;
                    break;
                default:
                    stderr.WriteLine($"osprey-load hls: bad argument '{args[i]}'; usage: osprey-load hls --url http://edge/hls/{{feed}}/media.m3u8 [--clients N] [--seconds S] [--ramp S] [--json PATH]");
                    return ExitBadArguments;
            }
        }

        if (url is null)
        {
            stderr.WriteLine("osprey-load hls: --url (the LL-HLS media playlist) is required");
            return ExitBadArguments;
        }

        var report = await HlsLoadRunner.RunAsync(
            new HlsLoadOptions { Playlist = url, Clients = clients, Duration = TimeSpan.FromSeconds(seconds), Ramp = TimeSpan.FromSeconds(ramp) },
            CancellationToken.None);
        report.WriteText(Console.Out);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, report.ToJson(), CancellationToken.None);
        }

        return report.ClientsPlaying == 0 ? ExitNoViewer : ExitCompleted;
    }

    private static async Task<int> SoakAsync(SoakOptions options, string? jsonPath, TextWriter stderr)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };

        SoakReport report;
        try
        {
            report = await SoakRunner.RunAsync(options, cts.Token);
        }
        catch (ArgumentException ex)
        {
            stderr.WriteLine($"osprey-load soak: {ex.Message}");
            return ExitBadArguments;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("osprey-load soak: cancelled");
            return ExitNoViewer;
        }

        report.WriteText(Console.Out);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, report.ToJson(), CancellationToken.None);
        }

        return ExitCompleted;
    }
}
