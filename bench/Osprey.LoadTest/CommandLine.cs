using System.Globalization;

namespace Osprey.LoadTest;

/// <summary>Parses the osprey-load command line into <see cref="LoadOptions"/>.</summary>
internal sealed class CommandLine
{
    public const string Usage = """
        usage: osprey-load --url ws://127.0.0.1:8888/ws/test/raw [options]
               osprey-load --url ws://127.0.0.1:8888/ws/test/jpeg [options]
               osprey-load --url ws://127.0.0.1:8888/ws/test/mp4 [options]
               osprey-load --url ws://127.0.0.1:8888/video_websocket [options]
               osprey-load --url http://127.0.0.1:8888/mjpeg/test [options]

          --url URL              feed to load (ws:// or http://; required)
          --mode MODE            raw | jpeg | mp4 | mjpeg (default: from the URL: http:// is mjpeg,
                                 a ws:// path ending in /jpeg is jpeg, in /mp4 or /video_websocket
                                 is mp4 (fMP4 media segments; /video_websocket: BerryMSE layout,
                                 no probe), any other ws:// is raw)
          --viewers N            measured viewers (default 10)
          --seconds T            measurement window in seconds (default 10)
          --warmup S             seconds between the last handshake and the window (default 1)
          --connect-timeout S    seconds allowed for all handshakes (default 15)
          --pid PID              server process: report its CPU time and RSS over the window
          --stalled K            extra viewers that connect and then never read (default 0;
                                 for mjpeg: they send the GET and never read the response)
          --json FILE            also write the report as JSON to FILE
          --concurrency N        handshakes in flight at once (default 32)
          --discard MODE         auto | truncate | native | copy (default auto)
          --allow-remote         allow a target that is not a loopback address
          --quiet                no progress lines on stderr
          -h, --help             this text

        exit code: 0 run completed, 1 no viewer could connect, 2 bad arguments
        """;

    private CommandLine(LoadOptions? options, string? jsonPath, bool help, string? error)
    {
        Options = options;
        JsonPath = jsonPath;
        Help = help;
        Error = error;
    }

    /// <summary>The parsed options, null on error or help.</summary>
    public LoadOptions? Options { get; }

    public string? JsonPath { get; }

    public bool Help { get; }

    public string? Error { get; }

    public static CommandLine Parse(IReadOnlyList<string> args, Action<string>? log)
    {
        Uri? url = null;
        int viewers = 10, stalled = 0, concurrency = 32;
        int? pid = null;
        double seconds = 10, warmup = 1, connectTimeout = 15;
        string? json = null;
        var discard = DiscardMode.Auto;
        var streamMode = StreamMode.Auto;
        bool allowRemote = false, quiet = false;

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count)
                {
                    throw new FormatException("needs a value");
                }

                return args[++i];
            }

            try
            {
                switch (arg)
                {
                    case "-h" or "--help":
                        return new CommandLine(null, null, help: true, null);
                    case "--url":
                        var text = Value();
                        if (!Uri.TryCreate(text, UriKind.Absolute, out url))
                        {
                            return Fail($"--url: \"{text}\" is not an absolute URL");
                        }

                        break;
                    case "--viewers":
                        viewers = ParseInt(Value());
                        break;
                    case "--stalled":
                        stalled = ParseInt(Value());
                        break;
                    case "--concurrency":
                        concurrency = ParseInt(Value());
                        break;
                    case "--pid":
                        pid = ParseInt(Value());
                        break;
                    case "--seconds":
                        seconds = ParseSeconds(Value());
                        break;
                    case "--warmup":
                        warmup = ParseSeconds(Value());
                        break;
                    case "--connect-timeout":
                        connectTimeout = ParseSeconds(Value());
                        break;
                    case "--json":
                        json = Value();
                        break;
                    case "--discard":
                        var mode = Value();
                        discard = mode.ToUpperInvariant() switch
                        {
                            "AUTO" => DiscardMode.Auto,
                            "TRUNCATE" => DiscardMode.Truncate,
                            "NATIVE" => DiscardMode.NativeTruncate,
                            "COPY" => DiscardMode.Copy,
                            _ => throw new FormatException($"unknown mode \"{mode}\""),
                        };
                        break;
                    case "--mode":
                        var modeName = Value();
                        streamMode = modeName.ToUpperInvariant() switch
                        {
                            "AUTO" => StreamMode.Auto,
                            "RAW" => StreamMode.Raw,
                            "JPEG" => StreamMode.Jpeg,
                            "MJPEG" => StreamMode.Mjpeg,
                            "MP4" => StreamMode.Mp4,
                            _ => throw new FormatException($"unknown mode \"{modeName}\""),
                        };
                        break;
                    case "--allow-remote":
                        allowRemote = true;
                        break;
                    case "--quiet":
                        quiet = true;
                        break;
                    default:
                        return Fail($"unknown argument \"{args[i]}\"");
                }
            }
            catch (FormatException ex)
            {
                return Fail($"{arg}: {ex.Message}");
            }
            catch (OverflowException)
            {
                return Fail($"{arg}: value out of range");
            }
        }

        if (url is null)
        {
            return Fail("--url is required");
        }

        if (json is not null)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(json));
            if (dir is not null && !Directory.Exists(dir))
            {
                return Fail($"--json: directory \"{dir}\" does not exist");
            }
        }

        var options = new LoadOptions
        {
            Url = url,
            Mode = streamMode,
            Viewers = viewers,
            StalledViewers = stalled,
            MaxConcurrentHandshakes = concurrency,
            ServerPid = pid,
            Duration = TimeSpan.FromSeconds(seconds),
            Warmup = TimeSpan.FromSeconds(warmup),
            ConnectTimeout = TimeSpan.FromSeconds(connectTimeout),
            DiscardMode = discard,
            AllowRemote = allowRemote,
            Log = quiet ? null : log,
        };
        var errors = options.Validate();
        return errors.Count > 0 ? Fail(string.Join("; ", errors)) : new CommandLine(options, json, help: false, null);
    }

    private static CommandLine Fail(string error) => new(null, null, help: false, error);

    private static int ParseInt(string text) => int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static double ParseSeconds(string text)
    {
        var value = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        // TimeSpan.FromSeconds throws on these; report them as bad arguments instead.
        return double.IsFinite(value) && Math.Abs(value) < 1e6 ? value : throw new OverflowException();
    }
}
