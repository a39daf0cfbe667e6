using System.Diagnostics;
using System.Text;
using OnnxLm.Engine.Model.Builder;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>prefix</c> subcommand: what the prefix KV cache buys on the Benchmark preset model (issue 4).
/// 1. Time to first token of a ~2,000-token prompt whose first ~1,900 tokens are cached (restored from blocks, and reused in
///    place from the row) vs cold.
/// 2. Output tokens/s of 8 concurrent requests sharing a 1,000-token system prompt, cache on vs off.
/// 3. The same with a 0 % hit rate (unrelated prompts): the cost of committing blocks nobody reuses.
/// 4. int8 block storage vs lossless: greedy top-1 agreement after a restore, and the largest first-token logit error.
/// Medians over repeats; on vs off alternate within each repeat so machine load hits both alike.
/// </summary>
public static class PrefixCacheBenchmark
{
    static void Log(string m) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {m}");

    public static int Run(string[] args)
    {
        string weights = "fp32";
        int repeats = 3;
        string cacheDir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "onnxlm", "bench-models");
        string output = Path.Combine("artifacts", "perf", "prefix.md");
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--weights": weights = args[++i]; break;
                case "--repeats": repeats = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--model-cache": cacheDir = args[++i]; break;
                case "--out": output = args[++i]; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; usage: prefix [--weights fp32|int4] [--repeats N] [--model-cache DIR] [--out FILE.md]");
                    return 2;
            }
        }
        var preset = ModelBuilderOptions.Benchmark with { Weights = weights == "int4" ? WeightFormat.Int4 : WeightFormat.Fp32 };
        string dir = Path.Combine(cacheDir, $"benchmark-{weights}-v{ModelBuilder.FormatVersion}");
        if (!File.Exists(Path.Combine(dir, ModelBuilder.GenAiConfigFileName)))
        {
            Log($"building {dir}");
            ModelBuilder.Build(dir, preset);
        }
        int vocab = preset.EndOfTextTokenId;
        var md = new StringBuilder();
        md.AppendLine($"### Prefix cache, benchmark model {weights} ({preset.ParameterCount / 1e6:F1}M params), {Environment.ProcessorCount} cores, {repeats} repeats (median)");
        md.AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project perf/OnnxLm.Benchmarks -- prefix {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine("| What | cache off / cold | cache on | ratio |");
        md.AppendLine("|---|---|---|---|");

        EngineOptions Options(bool cache, int bits = 0) => new() { ModelDirectory = dir, MaxBatchSize = 8, PrefixCache = cache, KvBits = bits, KvCacheMemory = 2L << 30, SsdCache = false };

        // 1. TTFT, 2,000-token prompt, 1,904 tokens cached.
        {
            var cold = new List<double>();
            var blocks = new List<double>();
            var inPlace = new List<double>();
            using var on = InferenceEngine.Start(Options(true));
            var filler = EngineComparison.Prompt(9, 300, vocab);
            for (int r = 0; r < repeats; r++)
            {
                var prefix = EngineComparison.Prompt(100 + r, 1904, vocab);
                var full = prefix.Concat(EngineComparison.Prompt(200 + r, 96, vocab)).ToArray();
                cold.Add(EngineClient.TimeToFirstToken(on, full).Ms);                                   // first sight: everything prefilled
                EngineClient.TimeToFirstToken(on, filler);                                           // the row now holds something else
                blocks.Add(EngineClient.TimeToFirstToken(on, prefix.Concat(EngineComparison.Prompt(300 + r, 96, vocab)).ToArray()).Ms);   // 1,904 from blocks
                inPlace.Add(EngineClient.TimeToFirstToken(on, prefix.Concat(EngineComparison.Prompt(400 + r, 96, vocab)).ToArray()).Ms);  // reused in the same row
                Log($"TTFT repeat {r}: cold {cold[^1]:F0} ms, blocks {blocks[^1]:F0} ms, same row {inPlace[^1]:F0} ms");
            }
            md.AppendLine($"| TTFT, 2,000-token prompt, 1,904 cached (restored from blocks) | {Samples.MedianOf(cold):F0} ms | {Samples.MedianOf(blocks):F0} ms | {Samples.MedianOf(cold) / Samples.MedianOf(blocks):F1}× |");
            md.AppendLine($"| TTFT, same, prefix still in the row (no copy) | {Samples.MedianOf(cold):F0} ms | {Samples.MedianOf(inPlace):F0} ms | {Samples.MedianOf(cold) / Samples.MedianOf(inPlace):F1}× |");
        }

        // 2 and 3. Throughput at 8 concurrent, shared system prompt and 0 % hits.
        foreach (bool shared in new[] { true, false })
        {
            var off = new List<double>();
            var onRate = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                int[] system = EngineComparison.Prompt(500 + r, 1000, vocab);
                int[][] prompts = Enumerable.Range(0, 8).Select(i => shared
                    ? system.Concat(EngineComparison.Prompt(600 + 10 * r + i, 24, vocab)).ToArray()
                    : EngineComparison.Prompt(700 + 10 * r + i, 1024, vocab)).ToArray();
                foreach (bool cache in r % 2 == 0 ? new[] { false, true } : new[] { true, false })
                {
                    using var engine = InferenceEngine.Start(Options(cache));
                    if (shared && cache) EngineClient.TimeToFirstToken(engine, system.Concat(EngineComparison.Prompt(999, 8, vocab)).ToArray());   // warm: system prompt seen once
                    var (timings, seconds) = EngineClient.RunConcurrent(engine, prompts, 64, 8);
                    double rate = timings.Sum(t => t.Tokens) / seconds;
                    (cache ? onRate : off).Add(rate);
                    Log($"{(shared ? "shared" : "0% hit")} repeat {r} cache {(cache ? "on" : "off")}: {rate:F1} tok/s");
                }
            }
            string what = shared ? "8 concurrent, shared 1,000-token system prompt, 64 out: output tok/s" : "8 concurrent, unrelated 1,024-token prompts (0 % hits), 64 out: output tok/s";
            md.AppendLine($"| {what} | {Samples.MedianOf(off):F1} | {Samples.MedianOf(onRate):F1} | {Samples.MedianOf(onRate) / Samples.MedianOf(off):F2}× |");
        }

        // 4. int8 accuracy: greedy agreement after restoring 960 cached tokens, lossless vs int8.
        {
            int agree = 0, total = 0;
            using var lossless = InferenceEngine.Start(Options(true));
            using var int8 = InferenceEngine.Start(Options(true, 8));
            for (int r = 0; r < Math.Max(repeats, 3); r++)
            {
                var prompt = EngineComparison.Prompt(800 + r, 1000, vocab);
                var filler = EngineComparison.Prompt(850 + r, 64, vocab);
                var a = Restored(lossless, prompt, filler);
                var b = Restored(int8, prompt, filler);
                for (int k = 0; k < a.Length; k++, total++) if (a[k] == b[k]) agree++;
                Log($"int8 repeat {r}: {agree}/{total} tokens agree so far");
            }
            md.AppendLine($"| int8 blocks: greedy tokens equal to lossless after restoring 992 tokens (64 per prompt) | — | {agree}/{total} | {100.0 * agree / total:F1} % |");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, md.ToString());
        Console.WriteLine(md);
        return 0;
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
}
