using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace OnnxLm.Benchmarks.Harness;

/// <summary>
/// Runs the BenchmarkDotNet micro-benchmarks and turns BenchmarkDotNet's "always exit 0" into an exit code: 1 when the
/// filter matched nothing, a benchmark failed or produced no result, or an allocation budget was exceeded.
/// Own options (removed before BenchmarkDotNet parses the rest): <c>--expected PATH</c> (allocation budget file),
/// <c>--write-expected</c> (rewrite that file from this run's measurements instead of checking them) and
/// <c>--json PATH</c> (every case's time, spread and allocation, for the docs/BENCHMARKS.md generator).
/// </summary>
public static class MicroBenchmarks
{
    /// <summary>
    /// The CI smoke run: every benchmark in-process (about 2 s of BenchmarkDotNet overhead instead of ~30 s), with one
    /// warm-up call before the measured one: the dry job's cold start otherwise counts first-call allocations (seen:
    /// 2,976 B on the first TopK40 call at vocab 151,936, 0 B on every later call), which are not steady state.
    /// </summary>
    public static int Smoke(string[] args) =>
        Run(["--filter", "*", "--job", "dry", "--warmupCount", "1", "--inProcess", .. args]);

    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Length);
        string? expectedPath = null;
        string? jsonPath = null;
        bool write = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--expected" && i + 1 < args.Length) expectedPath = args[++i];
            else if (args[i] == "--write-expected") write = true;
            else if (args[i] == "--json" && i + 1 < args.Length) jsonPath = args[++i];
            else rest.Add(args[i]);
        }
        expectedPath ??= AllocationBudget.DefaultPath();

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(MicroBenchmarks).Assembly)
            .Run([.. rest], DefaultConfig.Instance);
        // --list, --info and --help run nothing on purpose.
        if (rest.Exists(a => a is "--list" or "--info" or "--help" or "-h" or "--version")) return 0;

        var reports = new List<BenchmarkReport>();
        int failures = 0;
        foreach (Summary summary in summaries)
        {
            if (summary.HasCriticalValidationErrors)
            {
                foreach (var error in summary.ValidationErrors) Console.Error.WriteLine($"validation error: {error.Message}");
                failures++;
            }
            foreach (var benchmark in summary.BenchmarksCases)
            {
                var report = summary[benchmark];
                if (report is null || !report.Success || report.ResultStatistics is null)
                {
                    Console.Error.WriteLine($"FAILED: {AllocationBudget.Key(benchmark)} produced no result");
                    failures++;
                }
                else reports.Add(report);
            }
        }
        if (reports.Count == 0 && failures == 0)
        {
            Console.Error.WriteLine("no benchmark ran: the filter matched nothing");
            return 1;
        }
        if (jsonPath is not null) MicroResults.Write(jsonPath, reports, expectedPath, args);
        if (write)
        {
            AllocationBudget.Write(expectedPath, reports);
            Console.WriteLine($"wrote the allocations of {reports.Count} benchmarks to {expectedPath}");
            return failures == 0 ? 0 : 1;
        }
        failures += AllocationBudget.Check(expectedPath, reports, Console.Out, Console.Error);
        Console.WriteLine(failures == 0 ? $"{reports.Count} benchmarks ran, allocations within budget" : $"{failures} failure(s)");
        return failures == 0 ? 0 : 1;
    }
}
