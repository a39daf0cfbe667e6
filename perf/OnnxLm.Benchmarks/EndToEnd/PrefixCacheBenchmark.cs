using System.Diagnostics;
using System.Text;
using OnnxLm.Builder;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>prefix</c> subcommand: what the prefix KV cache buys on the Benchmark preset model (issue 4).
/// 1. Time to first token of a ~2,000-token prompt whose first ~1,900 tokens are cached (restored from blocks, and reused in
///    place from the row) vs cold.
/// 2. Output tokens/s of 8 concurrent requests sharing a 1,000-token system prompt, cache on vs off.
/// 3. The same with a 0 % hit rate (unrelated prompts): the cost of committing blocks nobody reuses.
/// 4. int8 block storage vs lossless: greedy top-1 agreement after a restore.
/// 5. Time to first token of the same kind of prompt after a restart, its prefix read back from the SSD tier, vs cold.
/// Medians over repeats; on vs off alternate within each repeat so machine load hits both alike. Writes markdown
/// (<c>--out FILE.md</c>) and the same rows with every sample as JSON next to it (<c>FILE.json</c>).
/// </summary>
public static class PrefixCacheBenchmark
{
    static void Log(string m) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {m}");

    public static int Run(string[] args)
    {
        var sections = new HashSet<string>(StringComparer.Ordinal) { "ttft", "throughput", "int8", "ssd" };
        var o = ModelBenchArgs.Parse(args, Path.Combine("artifacts", "perf", "prefix.md"),
            "prefix [--weights fp32|int4] [--repeats N] [--model-cache DIR] [--out FILE.md] [--sections ttft,throughput,int8,ssd]",
            (option, next) =>
            {
                if (option != "--sections" || next() is not { } list) return false;
                sections.Clear();
                foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) sections.Add(part);
                return true;
            });
        if (o is null) return 2;
        string weights = o.WeightsName, output = o.Out;
        int repeats = o.Repeats;
        var (dir, preset, _) = BenchmarkModel.Ensure(o.ModelCache, o.Weights, Log);
        int vocab = preset.EndOfTextTokenId;
        string loadAtStart = Machine.MachineInfo.LoadAverage();
        var rows = new List<PrefixRow>();
        var md = new StringBuilder();
        md.AppendLine($"### Prefix cache, benchmark model {weights} ({preset.ParameterCount / 1e6:F1}M params), {Environment.ProcessorCount} cores, {repeats} repeats (median)");
        md.AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project perf/OnnxLm.Benchmarks -- prefix {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine("| What | cache off / cold | cache on | ratio |");
        md.AppendLine("|---|---|---|---|");

        EngineOptions Options(bool cache, int bits = 0, string? ssdDir = null) => new()
        {
            ModelDirectory = dir,
            MaxBatchSize = 8,
            PrefixCache = cache,
            KvBits = bits,
            KvCacheMemory = 2L << 30,
            SsdCache = ssdDir is not null,
            KvCacheDir = ssdDir,
            Threads = 2,
        };

        // 1. TTFT, 2,000-token prompt, 1,904 tokens cached.
        if (sections.Contains("ttft"))
        {
            var cold = new List<double>();
            var blocks = new List<double>();
            var inPlace = new List<double>();
            using var on = InferenceEngine.Start(Options(true));
            var filler = Prompt(9, 300, vocab);
            Ttft(on, Prompt(8, 600, vocab));   // warm-up: ORT's first runs are slower
            for (int r = 0; r < repeats; r++)
            {
                var prefix = Prompt(100 + r, 1904, vocab);
                var full = prefix.Concat(Prompt(200 + r, 96, vocab)).ToArray();
                cold.Add(Ttft(on, full));                                   // first sight: everything prefilled
                Ttft(on, filler);                                           // the row now holds something else
                blocks.Add(Ttft(on, prefix.Concat(Prompt(300 + r, 96, vocab)).ToArray()));   // 1,904 from blocks
                inPlace.Add(Ttft(on, prefix.Concat(Prompt(400 + r, 96, vocab)).ToArray()));  // reused in the same row
                Log($"TTFT repeat {r}: cold {cold[^1]:F0} ms, blocks {blocks[^1]:F0} ms, same row {inPlace[^1]:F0} ms");
            }
            rows.Add(new PrefixRow("ttft_blocks", "TTFT, 2,000-token prompt, 1,904 cached (restored from RAM blocks)", "ms", cold, blocks, LowerIsBetter: true));
            rows.Add(new PrefixRow("ttft_in_place", "TTFT, same, prefix still in the slot row (no copy)", "ms", cold, inPlace, LowerIsBetter: true));
        }

        // 2 and 3. Throughput at 8 concurrent, shared system prompt and 0 % hits.
        foreach (bool shared in sections.Contains("throughput") ? new[] { true, false } : [])
        {
            var off = new List<double>();
            var onRate = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                int[] system = Prompt(500 + r, 1000, vocab);
                int[][] prompts = Enumerable.Range(0, 8).Select(i => shared
                    ? system.Concat(Prompt(600 + 10 * r + i, 24, vocab)).ToArray()
                    : Prompt(700 + 10 * r + i, 1024, vocab)).ToArray();
                foreach (bool cache in r % 2 == 0 ? new[] { false, true } : new[] { true, false })
                {
                    using var engine = InferenceEngine.Start(Options(cache));
                    if (shared && cache) Ttft(engine, system.Concat(Prompt(999, 8, vocab)).ToArray());   // warm: system prompt seen once
                    var (timings, seconds) = EngineClient.RunConcurrent(engine, prompts, 64, 8);
                    double rate = timings.Sum(t => t.Tokens) / seconds;
                    (cache ? onRate : off).Add(rate);
                    Log($"{(shared ? "shared" : "0% hit")} repeat {r} cache {(cache ? "on" : "off")}: {rate:F1} tok/s");
                }
            }
            string what = shared ? "8 concurrent, shared 1,000-token system prompt, 64 out: output tok/s" : "8 concurrent, unrelated 1,024-token prompts (0 % hits), 64 out: output tok/s";
            rows.Add(new PrefixRow(shared ? "shared_prefix_throughput" : "zero_hit_throughput", what, "tok/s", off, onRate, LowerIsBetter: false));
        }

        // 4. int8 accuracy: greedy agreement after restoring 960 cached tokens, lossless vs int8.
        if (sections.Contains("int8"))
        {
            int agree = 0, total = 0;
            using var lossless = InferenceEngine.Start(Options(true));
            using var int8 = InferenceEngine.Start(Options(true, 8));
            for (int r = 0; r < Math.Max(repeats, 3); r++)
            {
                var prompt = Prompt(800 + r, 1000, vocab);
                var filler = Prompt(850 + r, 64, vocab);
                var a = Restored(lossless, prompt, filler);
                var b = Restored(int8, prompt, filler);
                for (int k = 0; k < a.Length; k++, total++) if (a[k] == b[k]) agree++;
                Log($"int8 repeat {r}: {agree}/{total} tokens agree so far");
            }
            rows.Add(new PrefixRow("int8_agreement", $"int8 blocks: greedy tokens equal to lossless after restoring 992 tokens ({agree}/{total}, 64 per prompt)", "%", [], [100.0 * agree / total], LowerIsBetter: false));
        }

        // 5. TTFT after a restart, the prefix read back from the SSD tier (blocks persisted at shutdown), vs cold.
        if (sections.Contains("ssd"))
        {
            var cold = new List<double>();
            var ssd = new List<double>();
            string ssdDir = Path.Combine(Path.GetTempPath(), $"onnxlm-prefix-bench-{Environment.ProcessId}");
            try
            {
                for (int r = 0; r < repeats; r++)
                {
                    if (Directory.Exists(ssdDir)) Directory.Delete(ssdDir, recursive: true);
                    var prefix = Prompt(1100 + r, 1904, vocab);
                    using (var first = InferenceEngine.Start(Options(true, 0, ssdDir)))
                    {
                        Wait(first);
                        Ttft(first, Prompt(1050 + r, 600, vocab));   // warm-up
                        cold.Add(Ttft(first, prefix.Concat(Prompt(1200 + r, 96, vocab)).ToArray()));
                    }   // shutdown persists the RAM blocks to the tier
                    using (var second = InferenceEngine.Start(Options(true, 0, ssdDir)))
                    {
                        Wait(second);
                        Ttft(second, Prompt(1060 + r, 600, vocab));   // warm-up, unrelated
                        ssd.Add(Ttft(second, prefix.Concat(Prompt(1300 + r, 96, vocab)).ToArray()));
                        Log($"SSD repeat {r}: cold {cold[^1]:F0} ms, after restart {ssd[^1]:F0} ms, tier {second.Ssd?.Mode}");
                    }
                }
            }
            finally
            {
                if (Directory.Exists(ssdDir)) Directory.Delete(ssdDir, recursive: true);
            }
            rows.Add(new PrefixRow("ttft_ssd_restart", "TTFT after a restart, 2,000-token prompt, 1,904 read from the SSD tier", "ms", cold, ssd, LowerIsBetter: true));
        }

        foreach (var row in rows) md.AppendLine(row.Markdown());
        string command = $"dotnet run -c Release --project perf/OnnxLm.Benchmarks -- prefix {string.Join(' ', args)}";
        PrefixRow.WriteJson(Path.ChangeExtension(output, ".json"), command, weights, preset, dir, repeats, loadAtStart, rows);

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, md.ToString());
        Console.WriteLine(md);
        return 0;
    }

    static void Wait(InferenceEngine engine)
    {
        if (engine.Ssd is { } tier && !tier.Ready.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the SSD tier did not open");
    }

    static int[] Restored(InferenceEngine engine, int[] prompt, int[] filler)
    {
        Run(engine, prompt, 1);
        Run(engine, filler, 1);   // evict the row, so the next run restores from blocks
        return Run(engine, prompt, 64);
    }

    static int[] Run(InferenceEngine engine, int[] prompt, int maxTokens)
    {
        var request = new GenerationRequest(prompt, SamplingParams.Greedy, maxTokens, ignoreEos: true, eventCapacity: 1024);
        if (!engine.TrySubmit(request)) throw new InvalidOperationException("queue full");
        var tokens = new List<int>();
        while (request.Events.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            while (request.Events.TryRead(out var ev))
            {
                if (ev.Kind == TokenEventKind.Token) tokens.Add(ev.TokenId);
                if (ev.Kind == TokenEventKind.Error) throw new InvalidOperationException(ev.Error);
            }
        return [.. tokens];
    }

    /// <summary>Milliseconds from submission to the first token event.</summary>
    static double Ttft(InferenceEngine engine, int[] prompt)
    {
        var request = new GenerationRequest(prompt, SamplingParams.Greedy, 1, ignoreEos: true);
        long start = Stopwatch.GetTimestamp();
        if (!engine.TrySubmit(request)) throw new InvalidOperationException("queue full");
        double ms = -1;
        while (request.Events.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            while (request.Events.TryRead(out var ev))
            {
                if (ev.Kind == TokenEventKind.Token && ms < 0) ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (ev.Kind == TokenEventKind.Error) throw new InvalidOperationException(ev.Error);
            }
        return ms;
    }

    static int[] Prompt(int seed, int length, int vocab)
    {
        var rng = new Random(seed);
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = rng.Next(vocab);
        return p;
    }

    internal static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
