using BenchmarkDotNet.Running;

namespace Osprey.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project bench/Osprey.Benchmarks -- --filter '*'</c> runs every
/// benchmark; add <c>--job short</c> for a quick check, <c>--list flat</c> to list them.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        var failed = summaries.Any(summary => summary.HasCriticalValidationErrors || summary.Reports.Any(report => !report.Success));
        return failed ? 1 : 0;
    }
}
