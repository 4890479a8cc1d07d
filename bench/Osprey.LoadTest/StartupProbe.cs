using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Osprey.LoadTest;

/// <summary>
/// <c>osprey-load startup</c>: starts an osprey executable again and again and measures, from the moment of the
/// exec, when it says it listens and when the first frame of its test pattern arrives at a real client (a raw
/// WebSocket frame, or a JPEG snapshot), then its resident memory and CPU after a few idle seconds.
/// </summary>
/// <remarks>
/// The client retries its connection every millisecond until the server accepts it. The first run is a warm-up that
/// is not counted: it brings this tool's own code and the server's file into memory, so the runs that count measure
/// the server's start and not the disk or this tool's JIT.
/// </remarks>
internal static class StartupProbe
{
    public const string Usage = """
        usage: osprey-load startup --exec PATH [--arg ARG]... [options]
          Starts PATH (an osprey executable, or osprey.dll, run by dotnet) on a free loopback port, N times, and
          measures each start: time from exec to "Osprey listening", to the first test-pattern frame received, the
          server's CPU time by then, and its resident memory (anonymous and file-backed) after the idle time.
          --exec PATH            the server to start (required)
          --arg ARG              an argument for it (repeatable; --bind, --port and --log-level are added)
          --runs N               measured runs (default 10), after one warm-up run
          --first raw|snapshot   the first frame as a raw WebSocket message (/ws/FEED/raw, the default) or as
                                 GET /snapshot/FEED.jpg (JPEG)
          --feed NAME            the feed (default test)
          --idle S               idle seconds after the first frame before memory is read (default 3; 0: not read)
          --timeout S            give up on a start after S seconds (default 60)
        """;

    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(1);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter errors)
    {
        string? exec = null;
        var serverArgs = new List<string>();
        int runs = 10;
        string first = "raw", feed = "test";
        double idle = 3, timeout = 60;
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "-h" or "--help":
                        await output.WriteLineAsync(Usage);
                        return 0;
                    case "--exec":
                        exec = Value();
                        break;
                    case "--arg":
                        serverArgs.Add(Value());
                        break;
                    case "--runs":
                        runs = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--first":
                        first = Value();
                        break;
                    case "--feed":
                        feed = Value();
                        break;
                    case "--idle":
                        idle = double.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--timeout":
                        timeout = double.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    default:
                        throw new FormatException($"unknown option {args[i]}");
                }
            }
            catch (FormatException ex)
            {
                await errors.WriteLineAsync($"osprey-load startup: {ex.Message}\n{Usage}");
                return 2;
            }
        }

        if (exec is null || runs < 1 || first is not ("raw" or "snapshot") || idle < 0 || timeout <= 0)
        {
            await errors.WriteLineAsync($"osprey-load startup: needs --exec, --runs >= 1, --first raw|snapshot\n{Usage}");
            return 2;
        }

        var results = new List<StartRun>();
        for (var run = 0; run <= runs; run++)
        {
            StartRun result;
            try
            {
                result = await MeasureAsync(exec, serverArgs, first, feed, TimeSpan.FromSeconds(idle), TimeSpan.FromSeconds(timeout));
            }
            catch (TimeoutException ex)
            {
                await errors.WriteLineAsync($"osprey-load startup: {ex.Message}");
                return 1;
            }

            var label = run == 0 ? "warm-up" : $"run {run}";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{label}: listening {result.ListeningMs:F1} ms, first {first} frame {result.FirstFrameMs:F1} ms ({result.FirstFrameBytes} bytes), server CPU by then {result.CpuSeconds * 1000:F0} ms; after {idle:F0} s idle: RSS {result.RssKb / 1024.0:F1} MB (anonymous {result.AnonKb / 1024.0:F1}, file {result.FileKb / 1024.0:F1}), CPU {result.IdleCpuPercent:F1} %"));
            if (run > 0)
            {
                results.Add(result);
            }
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"median of {results.Count}: listening {Median(results, r => r.ListeningMs):F1} ms, first frame {Median(results, r => r.FirstFrameMs):F1} ms (min {results.Min(r => r.FirstFrameMs):F1}, max {results.Max(r => r.FirstFrameMs):F1}), server CPU {Median(results, r => r.CpuSeconds) * 1000:F0} ms, idle RSS {Median(results, r => r.RssKb) / 1024.0:F1} MB (anonymous {Median(results, r => r.AnonKb) / 1024.0:F1}, file {Median(results, r => r.FileKb) / 1024.0:F1}), idle CPU {Median(results, r => r.IdleCpuPercent):F1} %"));
        return 0;
    }

    private static double Median(List<StartRun> runs, Func<StartRun, double> value)
    {
        var sorted = runs.Select(value).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static async Task<StartRun> MeasureAsync(string exec, List<string> serverArgs, string first, string feed, TimeSpan idle, TimeSpan timeout)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(exec.EndsWith(".dll", StringComparison.Ordinal) ? "dotnet" : exec)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (exec.EndsWith(".dll", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(exec);
        }

        foreach (var arg in serverArgs.Concat(["--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--log-level", "warning"]))
        {
            start.ArgumentList.Add(arg);
        }

        var listening = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {exec}");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Osprey listening on", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult(clock.Elapsed.TotalMilliseconds);
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            var bytes = first == "raw"
                ? await FirstRawFrameAsync(new Uri($"ws://127.0.0.1:{port}/ws/{feed}/raw"), process, deadline.Token)
                : await FirstSnapshotAsync(new Uri($"http://127.0.0.1:{port}/snapshot/{feed}.jpg"), process, deadline.Token);
            var firstFrameMs = clock.Elapsed.TotalMilliseconds;
            var sampler = new ProcessSampler(process.Id);
            sampler.TryReadCpuSeconds(out var cpu);
            var listeningMs = await listening.Task.WaitAsync(TimeSpan.FromSeconds(5));
            long rss = 0, anon = 0, file = 0;
            double idleCpu = 0;
            if (idle > TimeSpan.Zero)
            {
                var idleClock = Stopwatch.StartNew();
                await Task.Delay(idle);
                sampler.TryReadCpuSeconds(out var cpuAfter);
                idleCpu = (cpuAfter - cpu) / idleClock.Elapsed.TotalSeconds * 100;
                (rss, anon, file) = ReadResident(process.Id);
            }

            return new StartRun(listeningMs, firstFrameMs, bytes, cpu, rss, anon, file, idleCpu);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{exec} sent no first frame within {timeout.TotalSeconds:F0} s{(process.HasExited ? $" (it exited with {process.ExitCode})" : "")}");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>Connects until the server accepts, then reads one whole binary message (one frame).</summary>
    private static async Task<long> FirstRawFrameAsync(Uri url, Process process, CancellationToken cancel)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            using var socket = new ClientWebSocket();
            try
            {
                await socket.ConnectAsync(url, cancel);
            }
            catch (WebSocketException) when (!process.HasExited)
            {
                await Task.Delay(s_retryDelay, cancel);
                continue;
            }

            long total = 0;
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancel);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"{url} closed before a frame");
                }

                total += result.Count;
                if (result.EndOfMessage)
                {
                    return total;
                }
            }
        }
    }

    /// <summary>Asks for the snapshot until the server accepts, and checks that the answer is a JPEG.</summary>
    private static async Task<long> FirstSnapshotAsync(Uri url, Process process, CancellationToken cancel)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero });
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            HttpResponseMessage response;
            try
            {
                response = await client.GetAsync(url, cancel);
            }
            catch (HttpRequestException ex) when (ex.InnerException is SocketException && !process.HasExited)
            {
                await Task.Delay(s_retryDelay, cancel);
                continue;
            }

            using (response)
            {
                var body = await response.Content.ReadAsByteArrayAsync(cancel);
                if (response.StatusCode != HttpStatusCode.OK || body.Length < 2 || body[0] != 0xFF || body[1] != 0xD8)
                {
                    throw new InvalidOperationException($"{url} answered {(int)response.StatusCode} with {body.Length} bytes, not a JPEG");
                }

                return body.Length;
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>VmRSS, RssAnon and RssFile (+ RssShmem) of /proc/PID/status, in kB.</summary>
    private static (long Rss, long Anon, long File) ReadResident(int pid)
    {
        long rss = 0, anon = 0, file = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var kb))
            {
                continue;
            }

            switch (parts[0])
            {
                case "VmRSS:":
                    rss = kb;
                    break;
                case "RssAnon:":
                    anon = kb;
                    break;
                case "RssFile:" or "RssShmem:":
                    file += kb;
                    break;
            }
        }

        return (rss, anon, file);
    }

    private sealed record StartRun(double ListeningMs, double FirstFrameMs, long FirstFrameBytes, double CpuSeconds, long RssKb, long AnonKb, long FileKb, double IdleCpuPercent);
}
