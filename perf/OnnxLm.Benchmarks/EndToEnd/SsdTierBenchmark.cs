using System.Diagnostics;
using System.Text;
using OnnxLm.Builder;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>ssd</c> subcommand (issue 5): on the Benchmark preset model,
/// 1. time to first token of a ~2,000-token prompt after a restart, served from the SSD tier, vs cold;
/// 2. decode throughput of 4 concurrent streams with every committed block written through to disk vs no SSD tier.
/// With <c>--drop-caches</c> (root only) the page cache is dropped before the restart, so reads come from the device;
/// otherwise they may come from the page cache, which the table says.
/// </summary>
public static class SsdTierBenchmark
{
    static void Log(string m) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {m}");

    public static int Run(string[] args)
    {
        bool dropCaches = false;
        var o = ModelBenchArgs.Parse(args, Path.Combine("artifacts", "perf", "ssd.md"),
            "ssd [--weights fp32|int4] [--repeats N] [--model-cache DIR] [--out FILE.md] [--drop-caches]",
            (option, _) => option == "--drop-caches" && (dropCaches = true));
        if (o is null) return 2;
        string weights = o.WeightsName, output = o.Out;
        int repeats = o.Repeats;
        var (dir, preset, _) = BenchmarkModel.Ensure(o.ModelCache, o.Weights, Log);
        int vocab = preset.EndOfTextTokenId;
        string kvRoot = Path.Combine(Path.GetTempPath(), "onnxlm-ssd-bench-" + Guid.NewGuid().ToString("N"));

        EngineOptions Options(bool ssd, bool writeThrough = false) => new()
        {
            ModelDirectory = dir,
            MaxBatchSize = 8,
            KvCacheMemory = 2L << 30,
            SsdCache = ssd,
            KvCacheDir = kvRoot,
            SsdWriteThrough = writeThrough,
        };

        var cold = new List<double>();
        var restored = new List<double>();
        int cachedTokens = 0;
        for (int r = 0; r < repeats; r++)
        {
            var prompt = EngineComparison.Prompt(1000 + r, 2000, vocab);
            using (var first = InferenceEngine.Start(Options(true)))
                cold.Add(EngineClient.TimeToFirstToken(first, prompt).Ms);                         // cold; shutdown persists its blocks
            if (dropCaches) DropPageCache();
            using var second = InferenceEngine.Start(Options(true));
            (double ms, cachedTokens) = EngineClient.TimeToFirstToken(second, prompt);
            restored.Add(ms);
            Log($"repeat {r}: cold {cold[^1]:F0} ms, after restart {restored[^1]:F0} ms ({cachedTokens} cached)");
        }

        var off = new List<double>();
        var through = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            int[][] prompts = Enumerable.Range(0, 4).Select(i => EngineComparison.Prompt(2000 + 10 * r + i, 64, vocab)).ToArray();
            foreach (bool ssd in r % 2 == 0 ? new[] { false, true } : new[] { true, false })
            {
                using var engine = InferenceEngine.Start(Options(ssd, writeThrough: true));
                var (timings, _) = EngineClient.RunConcurrent(engine, prompts, 256, 4);
                double rate = timings.Average(t => t.DecodeTokensPerSecond) * 4;
                (ssd ? through : off).Add(rate);
                Log($"decode repeat {r} {(ssd ? "write-through" : "no SSD")}: {rate:F1} tok/s");
            }
        }
        try { Directory.Delete(kvRoot, recursive: true); } catch (IOException) { }

        var md = new StringBuilder();
        md.AppendLine($"### SSD KV tier, benchmark model {weights}, {Environment.ProcessorCount} cores, {repeats} repeats (median)");
        md.AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project perf/OnnxLm.Benchmarks -- ssd {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine("| What | without | with SSD tier | ratio |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine($"| TTFT of a 2,000-token prompt after a restart ({cachedTokens} tokens from disk{(dropCaches ? ", page cache dropped" : ", page cache warm")}) | {Samples.MedianOf(cold):F0} ms cold | {Samples.MedianOf(restored):F0} ms | {Samples.MedianOf(cold) / Samples.MedianOf(restored):F1}× |");
        md.AppendLine($"| Decode, 4 streams, every block written through to disk: output tok/s | {Samples.MedianOf(off):F1} | {Samples.MedianOf(through):F1} | {100 * (Samples.MedianOf(through) / Samples.MedianOf(off) - 1):+0.0;-0.0} % |");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, md.ToString());
        Console.WriteLine(md);
        return 0;
    }

    static void DropPageCache()
    {
        try
        {
            using (var sync = Process.Start("sync")) sync?.WaitForExit();
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            Log("could not drop the page cache: " + e.Message);
        }
    }
}
