using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using BenchmarkDotNet.Reports;

namespace OnnxLm.Benchmarks.Harness;

/// <summary>
/// The micro-benchmark results as JSON (<c>--json PATH</c>): per case its mean, median and standard deviation in
/// nanoseconds per operation, the allocated bytes per operation and the committed budget, plus the job and machine.
/// The docs generator (<c>report</c>) turns this into the micro-benchmark table.
/// </summary>
public static class MicroResults
{
    public static void Write(string path, IReadOnlyList<BenchmarkReport> reports, string budgetPath, string[] args)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("kind", "micro");
        w.WriteString("command", "dotnet run -c Release --project perf/OnnxLm.Benchmarks -- " + string.Join(' ', args));
        w.WriteString("date", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        w.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        w.WriteNumber("processorCount", Environment.ProcessorCount);
        w.WriteStartArray("cases");
        var budget = AllocationBudget.TryRead(budgetPath);
        foreach (var report in reports)
        {
            var stats = report.ResultStatistics!;
            string key = AllocationBudget.Key(report.BenchmarkCase);
            w.WriteStartObject();
            w.WriteString("name", key);
            w.WriteString("job", report.BenchmarkCase.Job.ResolvedId);
            w.WriteNumber("meanNs", Math.Round(stats.Mean, 3));
            w.WriteNumber("medianNs", Math.Round(stats.Median, 3));
            w.WriteNumber("stdDevNs", Math.Round(double.IsFinite(stats.StandardDeviation) ? stats.StandardDeviation : 0, 3));
            w.WriteNumber("minNs", Math.Round(stats.Min, 3));
            w.WriteNumber("maxNs", Math.Round(stats.Max, 3));
            w.WriteNumber("measurements", stats.N);
            if (report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) is { } bytes) w.WriteNumber("allocatedBytes", bytes);
            else w.WriteNull("allocatedBytes");
            if (budget is not null && budget.TryGetValue(key, out long expected)) w.WriteNumber("budgetBytes", expected);
            else w.WriteNull("budgetBytes");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
