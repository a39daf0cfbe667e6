using System.Diagnostics;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// Diagnostic: runs the 8-request workload at one concurrency and records, on the engine thread, every model run's start
/// (BeforeRun: prefill or decode) with the active sequence count, then prints a summary: how many decode and prefill
/// runs, how the wall time splits between them, and the decode run period by active count.
/// </summary>
public static class StepTrace
{
    public static void Run(InferenceEngine engine, int[][] prompts, int newTokens, int concurrency)
    {
        var stamps = new long[1 << 16];
        var kinds = new bool[stamps.Length];
        var active = new int[stamps.Length];
        int count = 0;
        engine.BeforeRun = prefill =>
        {
            if (count >= stamps.Length) return;
            stamps[count] = Stopwatch.GetTimestamp();
            kinds[count] = prefill;
            active[count] = engine.ActiveSequences;
            count++;
        };
        double seconds;
        try
        {
            (_, seconds) = EngineClient.RunConcurrent(engine, prompts, newTokens, concurrency);
        }
        finally
        {
            engine.BeforeRun = null;
        }
        int prefills = 0, decodes = 0;
        var byActive = new SortedDictionary<int, List<double>>();
        double prefillMs = 0, decodeMs = 0;
        for (int i = 0; i + 1 < count; i++)
        {
            double ms = RequestTiming.Seconds(stamps[i], stamps[i + 1]) * 1000;
            if (kinds[i]) { prefills++; prefillMs += ms; continue; }
            decodes++;
            decodeMs += ms;
            if (!byActive.TryGetValue(active[i], out var list)) byActive[active[i]] = list = [];
            list.Add(ms);
        }
        Console.Error.WriteLine($"c={concurrency}: {seconds:F2} s wall, {count} runs: {decodes} decode ({decodeMs / 1000:F2} s until the next run), {prefills} prefill ({prefillMs / 1000:F2} s)");
        foreach (var (a, list) in byActive)
            Console.Error.WriteLine($"  active {a}: {list.Count} decode runs, median period {Samples.MedianOf(list):F2} ms");
    }
}
