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
               osprey-load --url ws://127.0.0.1:8888/ws/video0/ts --ts-file F.ts [options]

          --url URL              feed to load (ws:// or http://; required)
          --mode MODE            raw | jpeg | mp4 | mjpeg | ts (default: from the URL: http:// is
                                 mjpeg, a ws:// path ending in /jpeg is jpeg, in /mp4 or
                                 /video_websocket is mp4 (fMP4 media segments; /video_websocket:
                                 BerryMSE layout, no probe), in /ts is ts, any other ws:// is raw)
          --viewers N            measured viewers (default 10; ts mode: 0 measures ingest alone)
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

        ts mode (MPEG-TS as jsmpeg reads it; the tool publishes the feed itself):
          --ts-file FILE         transport stream to POST, looped at real time (without it: only
                                 watch, no latency or byte accounting)
          --publish-url URL      where to POST (default http://HOST/ts/FEED from --url)
          --ts-write pes|BYTES   ffmpeg's writes, one per muxed packet (default), or fixed-size
                                 writes rounded down to whole packets (e.g. 1316)
          --ts-bitrate RATE      send at a constant rate (e.g. 10M, 1000k) instead of the file's PCRs
          --no-markers           no marker packets (pure ingest cost; no latency or accounting)
          --quiet                no progress lines on stderr
          -h, --help             this text

        exit code: 0 run completed, 1 no viewer could connect, 2 bad arguments

        usage: osprey-load soak --url http://127.0.0.1:8899/ --destination ws://127.0.0.1:8900/in/soak
                                --publish video0=V.ts [--publish audio0=A.ts] [options]
          Adds and removes vw streams (of the published feeds) and destinations (pushing them to a relay)
          under ingest, and samples threads, descriptors, RSS and task counts before, during and after.
          --cycles N             add/remove cycles (default 2000)
          --pid PID              the server's process (threads, fds, RSS from /proc)
          --relay-pid PID        the relay's process
          --feeds A,B            the feeds each stream combines (default: the published ones)
          --max-seconds S        stop the cycles after S seconds (default 290)
          --connect-wait S       per cycle, wait at most S for the destination to push (default 1)
          --hold S               keep each stream and destination S once it pushes (default 0.05)
          --settle S             quiet time before the last sample (default 3)
          --topics N             relay topics cycled through (default 16)
          --json FILE, --quiet, --allow-remote as above
        exit code: 0 soak ran (its verdict is in the report), 1 it could not run, 2 bad arguments
        """;

    private CommandLine(LoadOptions? options, string? jsonPath, bool help, string? error, SoakOptions? soak = null)
    {
        Soak = soak;
        Options = options;
        JsonPath = jsonPath;
        Help = help;
        Error = error;
    }

    /// <summary>The parsed options, null on error or help.</summary>
    public LoadOptions? Options { get; }

    /// <summary>The parsed options of <c>osprey-load soak</c>; null otherwise.</summary>
    public SoakOptions? Soak { get; }

    public string? JsonPath { get; }

    public bool Help { get; }

    public string? Error { get; }

    public static CommandLine Parse(IReadOnlyList<string> args, Action<string>? log)
    {
        if (args.Count > 0 && args[0] == "soak")
        {
            return ParseSoak(args, log);
        }

        Uri? url = null;
        int viewers = 10, stalled = 0, concurrency = 32;
        int? pid = null;
        double seconds = 10, warmup = 1, connectTimeout = 15;
        string? json = null;
        var discard = DiscardMode.Auto;
        var streamMode = StreamMode.Auto;
        bool allowRemote = false, quiet = false, markers = true;
        string? tsFile = null;
        Uri? publishUrl = null;
        var tsWrite = TsSource.PesWrites;
        double? tsBitrate = null;

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
                            "TS" => StreamMode.Ts,
                            _ => throw new FormatException($"unknown mode \"{modeName}\""),
                        };
                        break;
                    case "--allow-remote":
                        allowRemote = true;
                        break;
                    case "--ts-file":
                        tsFile = Value();
                        break;
                    case "--publish-url":
                        var publish = Value();
                        if (!Uri.TryCreate(publish, UriKind.Absolute, out publishUrl))
                        {
                            return Fail($"--publish-url: \"{publish}\" is not an absolute URL");
                        }

                        break;
                    case "--ts-write":
                        var write = Value();
                        tsWrite = write.Equals("pes", StringComparison.OrdinalIgnoreCase) ? TsSource.PesWrites : ParseInt(write);
                        break;
                    case "--ts-bitrate":
                        tsBitrate = ParseBitrate(Value());
                        break;
                    case "--no-markers":
                        markers = false;
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
            TsFile = tsFile,
            TsPublishUrl = publishUrl,
            TsWriteSize = tsWrite,
            TsBitsPerSecond = tsBitrate,
            TsMarkers = markers,
            Log = quiet ? null : log,
        };
        var errors = options.Validate();
        return errors.Count > 0 ? Fail(string.Join("; ", errors)) : new CommandLine(options, json, help: false, null);
    }

    private static CommandLine ParseSoak(IReadOnlyList<string> args, Action<string>? log)
    {
        Uri? url = null, destination = null;
        int cycles = 2000, topics = 16;
        int? pid = null, relayPid = null;
        double maxSeconds = 290, connectWait = 1, settle = 3, hold = 0.05;
        string? json = null;
        IReadOnlyList<string>? feeds = null;
        var publishers = new List<SoakPublisher>();
        bool allowRemote = false, quiet = false;
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new FormatException("needs a value"));

            try
            {
                switch (arg)
                {
                    case "-h" or "--help":
                        return new CommandLine(null, null, help: true, null);
                    case "--url" or "--destination":
                        var text = Value();
                        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
                        {
                            return Fail($"{arg}: \"{text}\" is not an absolute URL");
                        }

                        if (arg == "--url")
                        {
                            url = uri;
                        }
                        else
                        {
                            destination = uri;
                        }

                        break;
                    case "--publish":
                        var spec = Value();
                        var at = spec.IndexOf('=', StringComparison.Ordinal);
                        if (at <= 0 || at == spec.Length - 1)
                        {
                            return Fail($"--publish: \"{spec}\" is not FEED=FILE");
                        }

                        publishers.Add(new SoakPublisher(spec[..at], spec[(at + 1)..]));
                        break;
                    case "--feeds":
                        feeds = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                        break;
                    case "--cycles":
                        cycles = ParseInt(Value());
                        break;
                    case "--topics":
                        topics = ParseInt(Value());
                        break;
                    case "--pid":
                        pid = ParseInt(Value());
                        break;
                    case "--relay-pid":
                        relayPid = ParseInt(Value());
                        break;
                    case "--max-seconds":
                        maxSeconds = ParseSeconds(Value());
                        break;
                    case "--connect-wait":
                        connectWait = ParseSeconds(Value());
                        break;
                    case "--settle":
                        settle = ParseSeconds(Value());
                        break;
                    case "--hold":
                        hold = ParseSeconds(Value());
                        break;
                    case "--json":
                        json = Value();
                        break;
                    case "--allow-remote":
                        allowRemote = true;
                        break;
                    case "--quiet":
                        quiet = true;
                        break;
                    default:
                        return Fail($"soak: unknown argument \"{args[i]}\"");
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

        if (url is null || destination is null)
        {
            return Fail("soak needs --url (the server) and --destination (a relay's ws://.../in/NAME)");
        }

        var options = new SoakOptions
        {
            ServerUrl = url,
            Destination = destination,
            Publishers = publishers,
            StreamFeeds = feeds,
            Cycles = cycles,
            Topics = topics,
            ServerPid = pid,
            RelayPid = relayPid,
            MaxDuration = TimeSpan.FromSeconds(maxSeconds),
            ConnectWait = TimeSpan.FromSeconds(connectWait),
            Settle = TimeSpan.FromSeconds(settle),
            Hold = TimeSpan.FromSeconds(hold),
            AllowRemote = allowRemote,
            Log = quiet ? null : log,
        };
        var errors = options.Validate();
        return errors.Count > 0 ? Fail(string.Join("; ", errors)) : new CommandLine(null, json, help: false, null, options);
    }

    private static CommandLine Fail(string error) => new(null, null, help: false, error);

    private static int ParseInt(string text) => int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>Bits per second: a number, optionally with k or M (decimal: 1000k = 1M = 10^6).</summary>
    internal static double ParseBitrate(string text)
    {
        var scale = 1.0;
        if (text.EndsWith('k') || text.EndsWith('K'))
        {
            scale = 1e3;
            text = text[..^1];
        }
        else if (text.EndsWith('M') || text.EndsWith('m'))
        {
            scale = 1e6;
            text = text[..^1];
        }

        var value = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture) * scale;
        return double.IsFinite(value) && value > 0 ? value : throw new FormatException("must be a positive rate such as 10M or 1000k");
    }

    private static double ParseSeconds(string text)
    {
        var value = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        // TimeSpan.FromSeconds throws on these; report them as bad arguments instead.
        return double.IsFinite(value) && Math.Abs(value) < 1e6 ? value : throw new OverflowException();
    }
}
