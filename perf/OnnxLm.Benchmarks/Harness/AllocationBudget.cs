using System.Text.Json;
using BenchmarkDotNet.Running;

namespace OnnxLm.Benchmarks.Harness;

/// <summary>
/// The committed allocation budget (<c>expected-allocations.json</c>): bytes allocated per operation for every
/// micro-benchmark, on the benchmark's own thread once warm (<see cref="ThreadAllocationProbe"/>), or for benchmarks
/// whose work runs on other threads as BenchmarkDotNet's <c>[MemoryDiagnoser]</c> measures them. A benchmark that allocates more than
/// its budget, or that is not in the file at all, fails the run, so a regression or an unreviewed new benchmark
/// cannot pass CI silently. Less than the budget is reported (tighten the file) but passes.
/// </summary>
public static class AllocationBudget
{
    const string FileName = "expected-allocations.json";

    /// <summary>The project's file when run from the repository root (so --write-expected updates the committed file),
    /// else the copy next to the assembly.</summary>
    public static string DefaultPath()
    {
        string source = Path.Combine("perf", "OnnxLm.Benchmarks", FileName);
        return File.Exists(source) ? source : Path.Combine(AppContext.BaseDirectory, FileName);
    }

    /// <summary>Stable id of a benchmark case: <c>Type.Method(Param=Value, ...)</c>.</summary>
    public static string Key(BenchmarkCase benchmark)
    {
        string name = benchmark.Descriptor.Type.Name + "." + benchmark.Descriptor.WorkloadMethod.Name;
        if (benchmark.Parameters.Count == 0) return name;
        var parts = new string[benchmark.Parameters.Count];
        for (int i = 0; i < parts.Length; i++)
            parts[i] = benchmark.Parameters.Items[i].Name + "=" + benchmark.Parameters.Items[i].Value;
        return name + "(" + string.Join(", ", parts) + ")";
    }

    /// <summary>
    /// Compares measured allocations with the budget; returns the number of failures. With <paramref name="overBudget"/>,
    /// cases above their budget are collected there instead of failing (the caller re-measures them: see
    /// <see cref="MicroBenchmarks"/>); cases without a budget or without a measurement always fail.
    /// </summary>
    public static int Check(string path, IReadOnlyList<(BenchmarkCase Case, long? Bytes)> measured, TextWriter output, TextWriter errors,
        List<BenchmarkCase>? overBudget = null)
    {
        if (!File.Exists(path))
        {
            errors.WriteLine($"allocation budget {path} not found (create it with --write-expected)");
            return 1;
        }
        var budget = Read(path);
        int failures = 0;
        foreach (var (benchmark, actual) in measured)
        {
            string key = Key(benchmark);
            if (actual is null)
            {
                errors.WriteLine($"ALLOC ?    {key}: no allocation measurement (is [MemoryDiagnoser] on the class?)");
                failures++;
            }
            else if (!budget.TryGetValue(key, out long expected))
            {
                errors.WriteLine($"ALLOC NEW  {key}: {actual} B/op has no budget in {path}");
                failures++;
            }
            else if (actual > expected && overBudget is not null)
            {
                output.WriteLine($"alloc over {key}: {actual} B/op, budget {expected} B/op; measuring again");
                overBudget.Add(benchmark);
            }
            else if (actual > expected)
            {
                errors.WriteLine($"ALLOC FAIL {key}: {actual} B/op, budget {expected} B/op (allocation regressed: find the new allocation, or raise the budget in {path} if it is intended)");
                failures++;
            }
            else
            {
                output.WriteLine($"alloc ok   {key}: {actual} B/op (budget {expected})");
            }
        }
        return failures;
    }

    public static void Write(string path, IReadOnlyList<(BenchmarkCase Case, long? Bytes)> measured)
    {
        var merged = File.Exists(path) ? Read(path) : new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (benchmark, allocated) in measured)
            if (allocated is { } bytes)
                merged[Key(benchmark)] = bytes;
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("comment", "Bytes allocated per operation on the benchmark's own thread once warm (all threads, as [MemoryDiagnoser] counts, for [AllocatesOnOtherThreads] benchmarks); a run above these fails. Update with: dotnet run -c Release --project perf/OnnxLm.Benchmarks -- smoke --write-expected");
        w.WriteStartObject("bytesPerOperation");
        foreach (var (key, bytes) in merged) w.WriteNumber(key, bytes);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The budget, or null when the file does not exist.</summary>
    public static SortedDictionary<string, long>? TryRead(string path) => File.Exists(path) ? Read(path) : null;

    static SortedDictionary<string, long> Read(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.GetProperty("bytesPerOperation").EnumerateObject())
            result[p.Name] = p.Value.GetInt64();
        return result;
    }
}
