using System.Diagnostics;
using OnnxLm.Builder;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>engine</c> subcommand: onnxlm's engine against GenAI's Generator on the Benchmark preset model (~125M params),
/// in one process, same ORT thread count, interleaving the two runtimes within each repeat so that load from other
/// processes on the shared machine hits both alike. Writes JSON (machine-readable, all samples) and a markdown table.
/// </summary>
public static class EngineComparison
{
    public static int Run(string[] args)
    {
        var options = ComparisonOptions.Parse(args);
        if (options is null) return 2;
        var results = new List<WeightsResult>();
        var total = Stopwatch.StartNew();
        string loadAtStart = Machine.MachineInfo.LoadAverage();
        try
        {
            foreach (var weights in options.Weights) results.Add(Measure(options, weights));
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"engine comparison failed: {e}");
            return 1;
        }
        string command = "dotnet run -c Release --project perf/OnnxLm.Benchmarks -- engine " + string.Join(' ', args);
        var report = new ComparisonReport(options, results, command, total.Elapsed.TotalSeconds, loadAtStart);
        report.WriteJson(options.Out);
        string markdown = report.Markdown();
        File.WriteAllText(Path.ChangeExtension(options.Out, ".md"), markdown);
        Console.WriteLine(markdown);
        Console.Error.WriteLine($"wrote {options.Out} and {Path.ChangeExtension(options.Out, ".md")} in {total.Elapsed.TotalSeconds:F0} s");
        return 0;
    }

    static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    static WeightsResult Measure(ComparisonOptions options, WeightFormat weights)
    {
        var (dir, preset, buildSeconds) = BenchmarkModel.Ensure(options.ModelCache, weights, Log);
        var result = new WeightsResult(weights, dir, preset.ParameterCount)
        {
            ModelBuildSeconds = buildSeconds,
            KvBytesPerPosition = (long)preset.NumLayers * 2 * preset.NumKvHeads * preset.HeadSize * sizeof(float),
            EmbeddingBytes = (long)preset.VocabSize * preset.HiddenSize * sizeof(float),
        };

        int vocabEnd = preset.EndOfTextTokenId; // ordinary tokens only
        int[] single = Prompt(1, ComparisonOptions.SinglePromptTokens, vocabEnd);
        var batch = new int[ComparisonOptions.BatchRequests][];
        for (int i = 0; i < batch.Length; i++) batch[i] = Prompt(100 + i, ComparisonOptions.BatchPromptTokens, vocabEnd);

        if (options.Isolation == "process") MeasureIsolated(options, result, dir);
        string[] diagnostics = ["alloc", "profile", "blocks", "trace", "batchprofile"];
        if (options.Isolation == "process" && !diagnostics.Any(options.Sections.Contains)) return result;

        using var engine = StartEngine(dir, options.Threads);
        using var genai = new GenAiClient(dir, options.Threads);

        Log($"{result.Label}: warm-up");
        EngineClient.RunAsync(engine, single, 16, 0).GetAwaiter().GetResult();
        EngineClient.RunConcurrent(engine, batch, 4, 8);
        genai.Run(single, 16);
        if (options.Isolation == "shared" && options.Sections.Contains("batch")) genai.RunStaticBatch(batch, 4);
        // The engine moves its weights to huge pages on a thread of its own after readiness: measure after that (its
        // smaps reading would otherwise count as "other" allocation, and small pages would slow the first runs).
        engine.HugePagesSettled.Wait();

        for (int r = 0; r < options.Repeats && options.Isolation == "shared"; r++)
        {
            if (options.Sections.Contains("single"))
            {
                // Alternate which runtime goes first so slow drift in machine load does not favour one.
                for (int k = 0; k < 2; k++)
                {
                    if ((k + r) % 2 == 0)
                    {
                        var t = EngineClient.RunAsync(engine, single, ComparisonOptions.SingleNewTokens, 0).GetAwaiter().GetResult();
                        result.EngineSingle.Add(t.DecodeTokensPerSecond);
                        result.EngineSingleTtftMs.Add(t.TimeToFirstTokenMs);
                    }
                    else
                    {
                        var t = genai.Run(single, ComparisonOptions.SingleNewTokens);
                        result.GenAiSingle.Add(t.DecodeTokensPerSecond);
                        result.GenAiSingleTtftMs.Add(t.TimeToFirstTokenMs);
                    }
                }
                Log($"{result.Label} repeat {r + 1}: single engine {result.EngineSingle.Values[^1]:F1} tok/s, GenAI {result.GenAiSingle.Values[^1]:F1} tok/s");
            }
            if (options.Sections.Contains("batch"))
            {
                int outputTokens = ComparisonOptions.BatchRequests * ComparisonOptions.BatchNewTokens;
                foreach (int c in ComparisonOptions.Concurrency)
                {
                    var (timings, seconds) = EngineClient.RunConcurrent(engine, batch, ComparisonOptions.BatchNewTokens, c);
                    Add(result.EngineThroughput, c, outputTokens / seconds);
                    Add(result.EngineTtftMs, c, Samples.MedianOf(timings.Select(t => t.TimeToFirstTokenFromArrivalMs).ToArray()));
                    Log($"{result.Label} repeat {r + 1}: engine c={c} {outputTokens / seconds:F1} tok/s");
                }
                var (seq, seqSeconds) = genai.RunSequential(batch, ComparisonOptions.BatchNewTokens);
                result.GenAiSequential.Add(outputTokens / seqSeconds);
                result.GenAiSequentialTtftMs.Add(Samples.MedianOf(seq.Select(t => t.TimeToFirstTokenFromArrivalMs).ToArray()));
                var (staticRate, staticTtft) = genai.RunStaticBatch(batch, ComparisonOptions.BatchNewTokens);
                result.GenAiStaticBatch.Add(staticRate);
                result.GenAiStaticBatchTtftMs.Add(staticTtft);
                Log($"{result.Label} repeat {r + 1}: GenAI one after another {outputTokens / seqSeconds:F1} tok/s, static batch {staticRate:F1} tok/s");
            }
        }

        if (options.Sections.Contains("alloc"))
        {
            var rows = new int[4][];
            for (int i = 0; i < rows.Length; i++) rows[i] = Prompt(200 + i, ComparisonOptions.SinglePromptTokens, vocabEnd);
            result.Allocation = AllocationProbe.Measure(engine, rows, warmSteps: 32, measureSteps: 96);
            Log($"{result.Label}: allocation {result.Allocation}");
        }
        if (options.Sections.Contains("profile"))
        {
            result.Profile = DecodeProfile.Measure(engine, genai, dir, single, rounds: options.Repeats, steps: 32, options.Threads);
            Log($"{result.Label}: profile {result.Profile}");
        }
        if (options.Sections.Contains("blocks"))
            foreach (var v in StepBlocks.Measure(engine, genai, dir, single, options.Repeats, 32, options.Threads))
                Log($"{result.Label}: {v.Name}: {v.StepMs:F2} ms ({v.RatioToGenAi:F3}x GenAI)");
        if (options.Sections.Contains("trace"))
            foreach (int c in ComparisonOptions.Concurrency) StepTrace.Run(engine, batch, ComparisonOptions.BatchNewTokens, c);
        if (options.Sections.Contains("batchprofile"))
        {
            result.BatchProfile = BatchDecodeProfile.Measure(genai, dir, engine.ContextLength, batch, options.Repeats, 32, options.Threads);
            Log($"{result.Label}: batch profile {string.Join("; ", result.BatchProfile.Variants)}");
        }
        return result;
    }

    /// <summary>The engine as the comparison runs it: prefix cache and SSD tier off (the prompts repeat across warm-up,
    /// repeats and concurrency levels; with the cache on the engine would restore them while GenAI prefills every time;
    /// the cache has its own benchmark, <c>prefix</c>).</summary>
    internal static InferenceEngine StartEngine(string dir, int threads, bool hugePages = true) => InferenceEngine.Start(new EngineOptions
    {
        HugePages = hugePages,
        Log = m => Console.Error.WriteLine(m),
        ModelDirectory = dir,
        MaxBatchSize = ComparisonOptions.MaxBatchSize,
        Threads = threads,
        PrefixCache = false,
        SsdCache = false,
    });

    /// <summary>Single and batch sections, each runtime alone in a fresh child process per repeat (see <see cref="IsolatedRun"/>),
    /// the order alternating between repeats.</summary>
    static void MeasureIsolated(ComparisonOptions options, WeightsResult result, string dir)
    {
        for (int r = 0; r < options.Repeats; r++)
        {
            string[] order = r % 2 == 0 ? ["engine", "genai"] : ["genai", "engine"];
            if (options.Sections.Contains("single"))
            {
                foreach (string runtime in order)
                {
                    var s = IsolatedRun.Spawn(runtime, "single", dir, options.Threads, runs: 3);
                    var (rate, ttft) = runtime == "engine" ? (result.EngineSingle, result.EngineSingleTtftMs) : (result.GenAiSingle, result.GenAiSingleTtftMs);
                    foreach (var v in s.Single) rate.Add(v);
                    foreach (var v in s.SingleTtftMs) ttft.Add(v);
                }
                Log($"{result.Label} repeat {r + 1}: single engine {result.EngineSingle.Values[^1]:F1} tok/s, GenAI {result.GenAiSingle.Values[^1]:F1} tok/s");
            }
            if (options.Sections.Contains("batch"))
            {
                foreach (string runtime in order)
                {
                    var s = IsolatedRun.Spawn(runtime, "batch", dir, options.Threads, runs: 1);
                    if (runtime == "engine")
                    {
                        foreach (var (c, v) in s.Throughput) Add(result.EngineThroughput, c, v);
                        foreach (var (c, v) in s.TtftMs) Add(result.EngineTtftMs, c, v);
                        Log($"{result.Label} repeat {r + 1}: engine " + string.Join(", ", s.Throughput.Select(p => $"c={p.Key} {p.Value:F1} tok/s")));
                    }
                    else
                    {
                        result.GenAiSequential.Add(s.Sequential);
                        result.GenAiSequentialTtftMs.Add(s.SequentialTtftMs);
                        result.GenAiStaticBatch.Add(s.StaticBatch);
                        result.GenAiStaticBatchTtftMs.Add(s.StaticBatchTtftMs);
                        Log($"{result.Label} repeat {r + 1}: GenAI one after another {s.Sequential:F1} tok/s, static batch {s.StaticBatch:F1} tok/s");
                    }
                }
            }
        }
    }

    static void Add(SortedDictionary<int, Samples> map, int key, double value)
    {
        if (!map.TryGetValue(key, out var samples)) map[key] = samples = new Samples();
        samples.Add(value);
    }

    /// <summary>A seeded prompt of ordinary (non-special) token ids.</summary>
    /// <summary>A seeded prompt of ordinary (non-special) tokens.</summary>
    internal static int[] Prompt(int seed, int length, int vocabEnd)
    {
        var rng = new Random(seed);
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = rng.Next(vocabEnd);
        return p;
    }
}
