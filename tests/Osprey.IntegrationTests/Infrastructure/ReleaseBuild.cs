using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// The release executables that users run (scripts/publish.sh): made once and reused. test.sh publishes them before
/// the tests start (<c>--cached</c>: nothing is rebuilt when the sources have not changed); a test run alone asks the
/// script itself, which then builds what is missing (a Native AOT publish takes minutes).
/// </summary>
public static class ReleaseBuild
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> s_builds = new();

    /// <summary>The repository's root: the folder above the test's output that holds Osprey.slnx.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The path of the executable of <paramref name="kind"/> for <paramref name="rid"/>, published if needed.</summary>
    public static Task<string> GetAsync(string rid, string kind = "aot") =>
        s_builds.GetOrAdd($"{rid} {kind}", _ => new Lazy<Task<string>>(() => PublishAsync(rid, kind))).Value;

    /// <summary>True on an arm64 machine, where an arm64 build runs without an emulator.</summary>
    public static bool IsArm64Host => RuntimeInformation.OSArchitecture == Architecture.Arm64;

    /// <summary>
    /// Installs what runs an arm64 executable here when it is missing (Debian's qemu-user-static, and the arm64
    /// libraries osprey loads: libc, libturbojpeg, OpenSSL), and returns the command prefix that runs one.
    /// </summary>
    public static async Task<string[]> Arm64RunnerAsync()
    {
        if (IsArm64Host)
        {
            return [];
        }

        await RunAsync("bash", ["-c", "source scripts/ensure-packages.sh && ensure_architecture arm64 && ensure_packages qemu-user-static libc6:arm64 libturbojpeg0:arm64 libssl3:arm64"], TimeSpan.FromMinutes(10));
        return ["qemu-aarch64-static"];
    }

    private static async Task<string> PublishAsync(string rid, string kind)
    {
        var output = await RunAsync("bash", ["scripts/publish.sh", "--cached", rid, kind], TimeSpan.FromMinutes(25));
        var path = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        return File.Exists(path) ? path : throw new InvalidOperationException($"scripts/publish.sh {rid} {kind} did not make {path}:\n{output}");
    }

    private static async Task<string> RunAsync(string file, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} took more than {timeout.TotalMinutes:F0} min:\n{await stderr}");
        }

        return process.ExitCode == 0
            ? await stdout
            : throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Osprey.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Osprey.slnx above {AppContext.BaseDirectory}");
    }
}
