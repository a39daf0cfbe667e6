using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Benchmarks.Reporting;

/// <summary>
/// Markdown tables from the result files in one directory: <c>bandwidth.json</c> (the machine), <c>engine.json</c>
/// (engine vs GenAI), <c>prefix.json</c>, <c>load-compare.json</c> (load generator, onnxlm vs the GenAI baseline server),
/// <c>overhead.json</c> (1-token round trips), <c>micro.json</c>, and for structured output <c>constrained.json</c>
/// (constrained vs unconstrained decode), <c>enforcement.json</c> and <c>mask-latency.json</c> (<see cref="ConstraintTables"/>). Every table states its commit, the load average
/// around it and the command that produced it. Medians are shown with [min–max] over the repeats.
/// </summary>
public sealed class ReportTables(string dir)
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public IEnumerable<(string Name, Func<string?> Build)> Sections()
    {
        yield return ("machine", Machine);
        yield return ("engine", Engine);
        yield return ("prefix", Prefix);
        yield return ("context", Context);
        yield return ("startup", Startup);
        yield return ("load", Load);
        yield return ("overhead", Overhead);
        yield return ("micro", Micro);
        yield return ("constrained", () => LoadTable("constrained.json"));
        yield return ("enforcement", () => ConstraintTables.Enforcement(dir));
        yield return ("mask", () => ConstraintTables.Mask(dir));
    }

    JsonDocument? Open(string name)
    {
        string path = Path.Combine(dir, name);
        return File.Exists(path) ? JsonDocument.Parse(File.ReadAllBytes(path)) : null;
    }

    /// <summary>Best memory read bandwidth in GB/s, or NaN without bandwidth.json.</summary>
    double BandwidthGBs(bool best = true)
    {
        using var doc = Open("bandwidth.json");
        return doc is null ? double.NaN : doc.RootElement.GetProperty(best ? "bestGBs" : "medianGBs").GetDouble();
    }

    // ------------------------------------------------------------------ machine

    string? Machine()
    {
        using var doc = Open("bandwidth.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var m = r.GetProperty("machine");
        var sb = new StringBuilder();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(Inv, $"| CPU | {m.GetProperty("cpu").GetString()}, {m.GetProperty("processorCount").GetInt32()} logical cores |");
        sb.AppendLine(Inv, $"| Memory | {m.GetProperty("memoryBytes").GetInt64() / (double)(1L << 30):F1} GiB |");
        var samples = r.GetProperty("samplesGBs").EnumerateArray().Select(e => e.GetDouble().ToString("F1", Inv));
        sb.AppendLine(Inv, $"| Memory read bandwidth (measured) | **{r.GetProperty("bestGBs").GetDouble():F1} GB/s best**, median {r.GetProperty("medianGBs").GetDouble():F1}, min {r.GetProperty("minGBs").GetDouble():F1} " +
                           $"({r.GetProperty("threads").GetInt32()} threads summing {r.GetProperty("bufferBytes").GetInt64() >> 20} MiB; passes: {string.Join(", ", samples)}). docs/PERF.md measured 56–61 GB/s on this machine kind |");
        sb.AppendLine(Inv, $"| OS, runtime | {m.GetProperty("os").GetString()}, {m.GetProperty("runtime").GetString()} |");
        sb.AppendLine(Inv, $"| Commit | `{Short(m.GetProperty("commit").GetString())}` |");
        sb.AppendLine(Inv, $"| Load average (1/5/15 min) | {m.GetProperty("loadAverageStart").GetString()} before, {m.GetProperty("loadAverageEnd").GetString()} after; measured {r.GetProperty("date").GetString()} |");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        return sb.ToString();
    }

    // ------------------------------------------------------------------ engine vs GenAI

    string? Engine()
    {
        using var doc = Open("engine.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var m = r.GetProperty("machine");
        var w = r.GetProperty("workload");
        double bw = BandwidthGBs(), bwMedian = BandwidthGBs(best: false);
        int prompt = w.GetProperty("singlePromptTokens").GetInt32(), generated = w.GetProperty("singleNewTokens").GetInt32();
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Commit `{Short(m.GetProperty("commit").GetString())}`, {m.GetProperty("processorCount").GetInt32()} cores, ORT threads {r.GetProperty("ortThreads").GetInt32()}, " +
                           $"medians of {r.GetProperty("repeats").GetInt32()} repeats with [min–max]; " +
                           $"{EndToEnd.ComparisonReport.Isolation(r.TryGetProperty("isolation", out var iso) ? iso.GetString()! : "shared")}; load average {m.GetProperty("loadAverageStart").GetString()} before, {m.GetProperty("loadAverageEnd").GetString()} after; {r.GetProperty("seconds").GetDouble():F0} s.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        sb.AppendLine();
        sb.AppendLine("| What | onnxlm engine | GenAI 0.18 `Generator` | onnxlm / GenAI (median; [min–max] of per-repeat pairs) |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var model in r.GetProperty("models").EnumerateArray())
        {
            string label = model.GetProperty("weights").GetString()!;
            long weightBytes = model.TryGetProperty("weightBytes", out var wb) ? wb.GetInt64() : 0;
            long kvPerPosition = model.TryGetProperty("kvBytesPerPosition", out var kv) ? kv.GetInt64() : 0;
            long embedding = model.TryGetProperty("embeddingBytes", out var eb) ? eb.GetInt64() : 0;
            // A decode step streams every weight once (except the embedding table, of which it gathers one row) plus the
            // KV of the context so far; over the run the context averages the prompt plus half the generated tokens.
            double kvBytes = kvPerPosition * (prompt + generated / 2.0);
            double bytesPerToken = weightBytes - embedding + kvBytes;
            double limit = bw * 1e9 / bytesPerToken, limitMedian = bwMedian * 1e9 / bytesPerToken;
            var single = model.GetProperty("singleStream");
            if (Samples(single, "engineTokensPerSecond") is { Length: > 0 } e && Samples(single, "genaiTokensPerSecond") is { Length: > 0 } g)
            {
                if (weightBytes > 0 && double.IsFinite(limit))
                    sb.AppendLine(Inv, $"| Decode limit from bandwidth, {label}: {(weightBytes - embedding) / 1e6:F0} MB read per token ({weightBytes / 1e6:F0} MB of weight files − {embedding / 1e6:F0} MB gathered embedding + {kvBytes / 1e6:F1} MB KV) | {limit:F0} tok/s at {bw:F1} GB/s ({limitMedian:F0} at the median {bwMedian:F1} GB/s) | same | |");
                sb.AppendLine(Inv, $"| Single-stream decode, {label} ({prompt}-token prompt, {generated} out) | **{Cell(e)} tok/s**{Percent(e, limit)} | {Cell(g)} tok/s{Percent(g, limit)} | **{Median(e) / Median(g):F2}×** {PairSpread(e, g)} |");
                var et = Samples(single, "engineTtftMs");
                var gt = Samples(single, "genaiTtftMs");
                if (et.Length > 0 && gt.Length > 0)
                    sb.AppendLine(Inv, $"| Time to first token of that request, {label} (ms) | {Cell(et, 0)} | {Cell(gt, 0)} | {Median(gt) / Median(et):F2}× faster |");
            }
        }
        foreach (var model in r.GetProperty("models").EnumerateArray())
        {
            string label = model.GetProperty("weights").GetString()!;
            var eight = model.GetProperty("eightRequests");
            var seq = Samples(eight, "genaiSequentialTokensPerSecond");
            var stat = Samples(eight, "genaiStaticBatchTokensPerSecond");
            if (seq.Length == 0) continue;
            int n = w.GetProperty("batchRequests").GetInt32();
            string shape = $"{n} requests ({w.GetProperty("batchPromptTokens").GetInt32()}-token prompt, {w.GetProperty("batchNewTokens").GetInt32()} out), {label}";
            foreach (var c in eight.GetProperty("engine").EnumerateArray())
            {
                int conc = c.GetProperty("concurrency").GetInt32();
                var s = Samples(c, "outputTokensPerSecond");
                sb.AppendLine(Inv, $"| {shape}, output tok/s, onnxlm at c={conc} | {Cell(s)} | {Cell(seq)} one after another; {Cell(stat)} as one static batch of {n} | " +
                                   $"{(conc == 8 ? "**" : "")}{Median(s) / Median(seq):F2}×{(conc == 8 ? "**" : "")} {PairSpread(s, seq)} of one after another; {100 * Median(s) / Median(stat):F0} % of the static batch |");
            }
            var ttft = string.Join(" · ", eight.GetProperty("engine").EnumerateArray().Select(c =>
                $"c={c.GetProperty("concurrency").GetInt32()}: {Median(Samples(c, "medianTtftMs")):F0}"));
            sb.AppendLine(Inv, $"| {shape}, median time to first token from arrival (ms) | {ttft} | {Median(Samples(eight, "genaiSequentialMedianTtftMs")):F0} one after another; {Median(Samples(eight, "genaiStaticBatchTtftMs")):F0} static batch | |");
        }
        foreach (var model in r.GetProperty("models").EnumerateArray())
        {
            if (!model.TryGetProperty("allocationPerDecodeStep", out var a)) continue;
            sb.AppendLine(Inv, $"| Allocated per decode step, {model.GetProperty("weights").GetString()}, {a.GetProperty("rows").GetInt32()} rows + {a.GetProperty("rows").GetInt32()} async readers, {a.GetProperty("steps").GetInt32()} steps | " +
                               $"**{a.GetProperty("totalBytes").GetDouble():F1} B** (engine thread {a.GetProperty("engineThreadBytes").GetDouble():F1} B, readers {a.GetProperty("readerBytes").GetDouble():F1} B, other {a.GetProperty("otherBytes").GetDouble():F1} B; {a.GetProperty("gen0Collections").GetInt32()} gen0 GCs) | – | target 0 B |");
        }
        foreach (var model in r.GetProperty("models").EnumerateArray())
        {
            string label = model.GetProperty("weights").GetString()!;
            foreach (var (prop, what) in new[] { ("singleStreamStepProfileMs", "Single-stream decode step, step-interleaved"), ("batchDecodeStepProfileMs", "Decode step at B=8, round-interleaved") })
            {
                if (!model.TryGetProperty(prop, out var p)) continue;
                var variants = string.Join("; ", p.GetProperty("variants").EnumerateArray().Select(v =>
                    string.Create(Inv, $"{v.GetProperty("name").GetString()} {v.GetProperty("stepMs").GetDouble():F2} ms ({v.GetProperty("ratioToGenai").GetDouble():F2}× GenAI)")));
                sb.AppendLine(Inv, $"| {what}, {label} | {variants} | | |");
            }
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ configured context

    /// <summary>The markdown the <c>context</c> benchmark wrote (decode batch 1, then batch 8), as it wrote it.</summary>
    string? Context()
    {
        var parts = new[] { "context.md", "context-batch8.md" }.Select(f => Path.Combine(dir, f)).Where(File.Exists).ToArray();
        if (parts.Length == 0) return null;
        var sb = new StringBuilder();
        foreach (var path in parts) sb.AppendLine(File.ReadAllText(path).Trim().Replace("### ", "#### ", StringComparison.Ordinal)).AppendLine();
        return sb.ToString();
    }

    // ------------------------------------------------------------------ start-up with real vocabularies

    string? Startup()
    {
        using var doc = Open("startup.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Commit `{Short(Str(r, "commit"))}`, {r.GetProperty("threads").GetInt32()} ORT threads, load average {Str(r, "load")} at the start; medians of fresh processes, order alternating.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{Str(r, "command")}`");
        sb.AppendLine();
        sb.AppendLine("| Model (int4, block 32, accuracy 4) | Ready: onnxlm / GenAI | RSS when ready: onnxlm / GenAI | Chat TTFT: onnxlm (HTTP) / GenAI (in-process) |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var f in r.GetProperty("families").EnumerateArray())
        {
            var o = f.GetProperty("onnxlm");
            var g = f.GetProperty("genai");
            double D(JsonElement e, string n) => e.GetProperty(n).GetDouble();
            sb.AppendLine(Inv, $"| {Str(f, "family")}: {f.GetProperty("parameters").GetInt64() / 1e9:F2}B parameters, vocab {f.GetProperty("vocab").GetInt32():N0}, {o.GetProperty("prompt_tokens").GetInt32()}-token chat | " +
                $"{D(o, "ready_ms_median"):F0} / {D(g, "ready_ms_median"):F0} ms | {D(o, "rss_mib_median"):F0} / {D(g, "rss_mib_median"):F0} MiB | " +
                $"{D(o, "ttft_ms_median"):F0} / {D(g, "ttft_ms_median"):F0} ms |");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ prefix cache

    string? Prefix()
    {
        using var doc = Open("prefix.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var m = r.GetProperty("machine");
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Benchmark model {r.GetProperty("weights").GetString()} ({r.GetProperty("parameters").GetInt64() / 1e6:F1}M parameters), engine `MaxBatchSize` 8, block 16, pool 2 GiB; commit `{Short(m.GetProperty("commit").GetString())}`, " +
                           $"{m.GetProperty("processorCount").GetInt32()} cores; medians of {r.GetProperty("repeats").GetInt32()} repeats with [min–max]; load average {m.GetProperty("loadAverageStart").GetString()} before, {m.GetProperty("loadAverageEnd").GetString()} after.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        sb.AppendLine();
        sb.AppendLine("| What | cache off / cold | cache on | ratio (> 1: the cache helps) |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var row in r.GetProperty("rows").EnumerateArray())
        {
            string unit = row.GetProperty("unit").GetString()!;
            var baseline = Array(row.GetProperty("baseline"));
            var cached = Array(row.GetProperty("cached"));
            string ratio = row.GetProperty("ratio").ValueKind == JsonValueKind.Number ? $"**{row.GetProperty("ratio").GetDouble():F2}×**" : "—";
            int digits = unit == "ms" ? 0 : 1;
            sb.AppendLine(Inv, $"| {row.GetProperty("what").GetString()} | {(baseline.Length == 0 ? "—" : Cell(baseline, digits) + " " + unit)} | {(cached.Length == 0 ? "—" : Cell(cached, digits) + " " + unit)} | {(baseline.Length == 0 ? "" : ratio)} |");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ load generator

    string? Load() => LoadTable("load-compare.json");

    /// <summary>A compare run of the load generator (load-compare.json, or constrained.json: the same build with and
    /// without response_format).</summary>
    string? LoadTable(string file)
    {
        using var doc = Open(file);
        if (doc is null) return null;
        var r = doc.RootElement;
        string a = r.GetProperty("a").GetString()!, b = r.GetProperty("b").GetString()!;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Workload: {r.GetProperty("workload").GetString()}. Both servers run the same model with the same thread count; only one is under load at a time. " +
                           $"Commit `{Short(Str(r, "commit"))}`, {r.GetProperty("processors").GetInt32()} cores, load average {Str(r, "loadavg_end")} at the end, {r.GetProperty("timestamp_utc").GetString()}.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `onnxlm-load {string.Join(' ', r.GetProperty("args").EnumerateArray().Select(x => x.GetString()))}`");
        sb.AppendLine();
        sb.AppendLine(Inv, $"| arrival | {a} out tok/s | {b} out tok/s | throughput × | {a} TTFT p50 / p99 ms | {b} TTFT p50 / p99 ms | TTFT p50 speed-up × | {a} TPOT p50 ms | {b} TPOT p50 ms |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        var runs = r.GetProperty("runs").EnumerateArray().ToList();
        foreach (var ratio in r.GetProperty("ratios").EnumerateArray())
        {
            string arrival = ratio.GetProperty("arrival").GetString()!;
            var ra = runs.Where(x => x.GetProperty("label").GetString() == a && x.GetProperty("arrival").GetString() == arrival).ToList();
            var rb = runs.Where(x => x.GetProperty("label").GetString() == b && x.GetProperty("arrival").GetString() == arrival).ToList();
            string spread = r.GetProperty("repeats").GetInt32() > 1
                ? $" [{Num(ratio, "output_tok_s_ratio_min"):F2}–{Num(ratio, "output_tok_s_ratio_max"):F2}]" : "";
            sb.AppendLine(Inv, $"| {arrival} | {Num(ratio, "a_output_tok_s"):F1} | {Num(ratio, "b_output_tok_s"):F1} | **{Num(ratio, "output_tok_s_ratio"):F2}×**{spread} | " +
                               $"{MedianOf(ra, "ttft_ms", "p50"):F0} / {MedianOf(ra, "ttft_ms", "p99"):F0} | {MedianOf(rb, "ttft_ms", "p50"):F0} / {MedianOf(rb, "ttft_ms", "p99"):F0} | {Num(ratio, "ttft_p50_speedup"):F2}× | " +
                               $"{MedianOf(ra, "tpot_ms", "p50"):F1} | {MedianOf(rb, "tpot_ms", "p50"):F1} |");
        }
        int failed = runs.Sum(x => x.GetProperty("failed").GetInt32());
        if (failed > 0) sb.AppendLine().AppendLine(Inv, $"**{failed} request(s) failed** during these runs.");
        return sb.ToString();
    }

    // ------------------------------------------------------------------ server overhead

    string? Overhead()
    {
        using var doc = Open("overhead.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Workload: {r.GetProperty("workload").GetString()}. A request that produces one token on the tiny model costs almost no compute, so its round trip is " +
                           $"the server's own per-request cost: HTTP, parsing, tokenizing, admission, one model run, SSE. Commit `{Short(Str(r, "commit"))}`, {r.GetProperty("processors").GetInt32()} cores, load average {Str(r, "loadavg_end")} at the end.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `onnxlm-load {string.Join(' ', r.GetProperty("args").EnumerateArray().Select(x => x.GetString()))}`");
        sb.AppendLine();
        sb.AppendLine("| server | clients | requests | round trip p50 ms | p90 | p99 | time to first token p50 / p99 ms | requests/s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var run in r.GetProperty("runs").EnumerateArray())
        {
            var e2e = run.GetProperty("e2e_ms");
            var ttft = run.GetProperty("ttft_ms");
            sb.AppendLine(Inv, $"| {run.GetProperty("label").GetString()} | {run.GetProperty("arrival").GetString()} | {run.GetProperty("succeeded").GetInt32()}/{run.GetProperty("requests").GetInt32()} | " +
                               $"**{Num(e2e, "p50"):F2}** | {Num(e2e, "p90"):F2} | **{Num(e2e, "p99"):F2}** | {Num(ttft, "p50"):F2} / {Num(ttft, "p99"):F2} | {Num(run, "request_throughput"):F0} |");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ micro-benchmarks

    string? Micro()
    {
        using var doc = Open("micro.json");
        if (doc is null) return null;
        var r = doc.RootElement;
        var sb = new StringBuilder();
        var cases = r.GetProperty("cases").EnumerateArray().ToList();
        string job = cases.Count > 0 ? cases[0].GetProperty("job").GetString()! : "?";
        sb.AppendLine(Inv, $"BenchmarkDotNet job `{job}`, `[MemoryDiagnoser]`, {r.GetProperty("runtime").GetString()}, {r.GetProperty("processorCount").GetInt32()} cores, {r.GetProperty("date").GetString()}. " +
                           $"Time is per operation (per token, per item or per block where the benchmark says so); the budget is `perf/OnnxLm.Benchmarks/expected-allocations.json`, which the CI smoke run enforces.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        sb.AppendLine();
        sb.AppendLine("| benchmark | mean | ± std dev | median | allocated B/op | budget B/op |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var c in cases.OrderBy(c => c.GetProperty("name").GetString(), StringComparer.Ordinal))
        {
            string alloc = c.GetProperty("allocatedBytes").ValueKind == JsonValueKind.Number ? c.GetProperty("allocatedBytes").GetInt64().ToString(Inv) : "?";
            string budget = c.GetProperty("budgetBytes").ValueKind == JsonValueKind.Number ? c.GetProperty("budgetBytes").GetInt64().ToString(Inv) : "none";
            sb.AppendLine(Inv, $"| {c.GetProperty("name").GetString()} | {Time(Num(c, "meanNs"))} | {Time(Num(c, "stdDevNs"))} | {Time(Num(c, "medianNs"))} | {alloc} | {budget} |");
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ helpers

    static string Short(string? commit) => commit is null ? "unknown" : commit[..Math.Min(12, commit.Length)];

    static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";

    static double Num(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    static double[] Array(JsonElement e) => e.ValueKind == JsonValueKind.Array ? [.. e.EnumerateArray().Select(x => x.GetDouble())] : [];

    static double[] Samples(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var s) && s.TryGetProperty("samples", out var arr) ? Array(arr) : [];

    static double Median(double[] xs)
    {
        if (xs.Length == 0) return double.NaN;
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static double MedianOf(List<JsonElement> runs, string metric, string stat) =>
        Median([.. runs.Select(x => Num(x.GetProperty(metric), stat)).Where(double.IsFinite)]);

    static string Cell(double[] xs, int digits = 1)
    {
        string f = "F" + digits.ToString(Inv);
        return xs.Length switch
        {
            0 => "–",
            1 => xs[0].ToString(f, Inv),
            _ => $"{Median(xs).ToString(f, Inv)} [{xs.Min().ToString(f, Inv)}–{xs.Max().ToString(f, Inv)}]",
        };
    }

    static string Percent(double[] xs, double limit) =>
        double.IsFinite(limit) && limit > 0 ? string.Create(Inv, $" ({100 * Median(xs) / limit:F0} % of the limit)") : "";

    /// <summary>The spread of per-repeat ratios (sample i of a over sample i of b: measured side by side in one repeat).</summary>
    static string PairSpread(double[] a, double[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        if (n < 2) return "";
        var ratios = new double[n];
        for (int i = 0; i < n; i++) ratios[i] = a[i] / b[i];
        return string.Create(Inv, $"[{ratios.Min():F2}–{ratios.Max():F2}]");
    }

    static string Time(double ns) => double.IsNaN(ns) ? "?"
        : ns >= 1e6 ? string.Create(Inv, $"{ns / 1e6:F2} ms")
        : ns >= 1e3 ? string.Create(Inv, $"{ns / 1e3:F2} µs")
        : string.Create(Inv, $"{ns:F1} ns");
}
