using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Writes the comparison as JSON (every sample, machine, command) and as the markdown table of docs/BENCHMARKS.md.</summary>
public sealed class ComparisonReport(ComparisonOptions options, IReadOnlyList<WeightsResult> results, string command, double seconds, string loadAtStart)
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public void WriteJson(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("kind", "engine");
        w.WriteString("command", command);
        w.WriteString("date", DateTime.UtcNow.ToString("O", Inv));
        w.WriteNumber("seconds", Math.Round(seconds, 1));
        w.WriteNumber("repeats", options.Repeats);
        w.WriteString("isolation", options.Isolation);
        w.WriteNumber("ortThreads", options.Threads);
        Machine.MachineInfo.Write(w, loadAtStart);
        w.WriteStartObject("workload");
        w.WriteNumber("singlePromptTokens", ComparisonOptions.SinglePromptTokens);
        w.WriteNumber("singleNewTokens", ComparisonOptions.SingleNewTokens);
        w.WriteNumber("batchRequests", ComparisonOptions.BatchRequests);
        w.WriteNumber("batchPromptTokens", ComparisonOptions.BatchPromptTokens);
        w.WriteNumber("batchNewTokens", ComparisonOptions.BatchNewTokens);
        w.WriteNumber("engineMaxBatch", ComparisonOptions.MaxBatchSize);
        w.WriteEndObject();
        w.WriteStartArray("models");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("weights", r.Label);
            w.WriteString("directory", r.ModelDir);
            w.WriteNumber("parameters", r.Parameters);
            w.WriteNumber("weightBytes", Machine.MachineInfo.WeightBytes(r.ModelDir));
            w.WriteNumber("kvBytesPerPosition", r.KvBytesPerPosition);
            w.WriteNumber("embeddingBytes", r.EmbeddingBytes);
            w.WriteNumber("modelBuildSeconds", Math.Round(r.ModelBuildSeconds, 1));
            w.WriteStartObject("singleStream");
            Write(w, "engineTokensPerSecond", r.EngineSingle);
            Write(w, "genaiTokensPerSecond", r.GenAiSingle);
            WriteRatio(w, "ratio", r.EngineSingle, r.GenAiSingle);
            Write(w, "engineTtftMs", r.EngineSingleTtftMs);
            Write(w, "genaiTtftMs", r.GenAiSingleTtftMs);
            w.WriteEndObject();
            w.WriteStartObject("eightRequests");
            w.WriteStartArray("engine");
            foreach (var (c, s) in r.EngineThroughput)
            {
                w.WriteStartObject();
                w.WriteNumber("concurrency", c);
                Write(w, "outputTokensPerSecond", s);
                Write(w, "medianTtftMs", r.EngineTtftMs[c]);
                WriteRatio(w, "ratioToGenaiSequential", s, r.GenAiSequential);
                WriteRatio(w, "ratioToGenaiStaticBatch", s, r.GenAiStaticBatch);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Write(w, "genaiSequentialTokensPerSecond", r.GenAiSequential);
            Write(w, "genaiSequentialMedianTtftMs", r.GenAiSequentialTtftMs);
            Write(w, "genaiStaticBatchTokensPerSecond", r.GenAiStaticBatch);
            Write(w, "genaiStaticBatchTtftMs", r.GenAiStaticBatchTtftMs);
            w.WriteEndObject();
            if (r.Allocation is { } a)
            {
                w.WriteStartObject("allocationPerDecodeStep");
                w.WriteNumber("rows", a.Rows);
                w.WriteNumber("steps", a.Steps);
                w.WriteNumber("totalBytes", Math.Round(a.TotalPerStep, 1));
                w.WriteNumber("engineThreadBytes", Math.Round(a.EngineThreadPerStep, 1));
                w.WriteNumber("readerBytes", Math.Round(a.ReaderPerStep, 1));
                w.WriteNumber("otherBytes", Math.Round(a.OtherPerStep, 1));
                w.WriteNumber("gen0Collections", a.Gen0Collections);
                w.WriteEndObject();
            }
            if (r.Profile is { } p)
            {
                w.WriteStartObject("singleStreamStepProfileMs");
                w.WriteNumber("rounds", p.Rounds);
                w.WriteNumber("stepsPerRound", p.StepsPerRound);
                w.WriteNumber("argmax", Math.Round(p.ArgmaxMs, 4));
                w.WriteStartArray("variants");
                foreach (var v in p.Variants)
                {
                    w.WriteStartObject();
                    w.WriteString("name", v.Name);
                    w.WriteNumber("stepMs", Math.Round(v.StepMs, 3));
                    w.WriteNumber("ratioToGenai", Math.Round(v.RatioToGenAi, 3));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            if (r.BatchProfile is { } bp)
            {
                w.WriteStartObject("batchDecodeStepProfileMs");
                w.WriteNumber("rows", bp.Rows);
                w.WriteNumber("rounds", bp.Rounds);
                w.WriteNumber("steps", bp.Steps);
                w.WriteStartArray("variants");
                foreach (var v in bp.Variants)
                {
                    w.WriteStartObject();
                    w.WriteString("name", v.Name);
                    w.WriteNumber("stepMs", Math.Round(v.StepMs, 3));
                    w.WriteNumber("ratioToGenai", Math.Round(v.RatioToGenAi, 3));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void Write(Utf8JsonWriter w, string name, Samples s)
    {
        w.WriteStartObject(name);
        w.WriteNumber("median", Round(s.Median));
        w.WriteNumber("min", Round(s.Min));
        w.WriteNumber("max", Round(s.Max));
        w.WriteStartArray("samples");
        foreach (var v in s.Values) w.WriteNumberValue(Round(v));
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void WriteRatio(Utf8JsonWriter w, string name, Samples a, Samples b)
    {
        double ratio = a.Median / b.Median;
        if (double.IsFinite(ratio)) w.WriteNumber(name, Math.Round(ratio, 3));
        else w.WriteNull(name);
    }

    /// <summary>How the two runtimes shared the machine, in words (docs and console).</summary>
    public static string Isolation(string mode) => mode == "process"
        ? "each runtime alone in a fresh process per repeat, the order alternating (single stream: 3 runs per process after a full-length warm-up run)"
        : "both runtimes in one process, interleaved (the session loaded first is 4–9 % slower: biased against the engine)";

    static double Round(double v) => double.IsFinite(v) ? Math.Round(v, 2) : 0;

    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Machine: {CpuModel()}, {Environment.ProcessorCount} logical CPUs, {MemoryBytes() / (1L << 30)} GiB; commit {Commit()[..Math.Min(12, Commit().Length)]}; " +
                      $"ORT threads {options.Threads}; medians of {options.Repeats} repeats (min–max in brackets); {Isolation(options.Isolation)}.");
        sb.AppendLine();
        sb.AppendLine("| What | onnxlm engine | GenAI 0.18 `Generator` | onnxlm / GenAI |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var r in results)
        {
            if (r.EngineSingle.Count > 0)
                sb.AppendLine($"| Single-stream decode, {r.Label} (32-token prompt, 128 out) | {F(r.EngineSingle)} tok/s | {F(r.GenAiSingle)} tok/s | **{Ratio(r.EngineSingle, r.GenAiSingle)}** |");
        }
        foreach (var r in results)
        {
            if (r.EngineThroughput.Count == 0) continue;
            var parts = string.Join(" · ", r.EngineThroughput.Select(kv => $"c={kv.Key}: {F(kv.Value)}"));
            sb.AppendLine($"| 8 requests (256-token prompt, 128 out), {r.Label}, total output tok/s | {parts} | {F(r.GenAiSequential)} one after another; {F(r.GenAiStaticBatch)} as one static batch of 8 | " +
                          $"c=8: **{Ratio(r.EngineThroughput[8], r.GenAiSequential)}** of one-after-another, {Percent(r.EngineThroughput[8], r.GenAiStaticBatch)} of the static batch |");
            var ttft = string.Join(" · ", r.EngineTtftMs.Select(kv => $"c={kv.Key}: {kv.Value.Median:F0}"));
            sb.AppendLine($"| Median time to first token of the 8, {r.Label} (ms, from arrival) | {ttft} | {r.GenAiSequentialTtftMs.Median:F0} one after another; {r.GenAiStaticBatchTtftMs.Median:F0} static batch | c=8: {Ratio(r.GenAiSequentialTtftMs, r.EngineTtftMs[8])} faster |");
        }
        foreach (var r in results)
        {
            if (r.Allocation is { } a)
                sb.AppendLine($"| Allocated per decode step, {r.Label}, {a.Rows} rows + {a.Rows} async readers | {a.TotalPerStep:F1} B total: engine thread {a.EngineThreadPerStep:F1} B, readers {a.ReaderPerStep:F1} B, other {a.OtherPerStep:F1} B ({a.Steps} steps, {a.Gen0Collections} gen0 GCs) | – | target 0 B |");
        }
        foreach (var r in results)
        {
            if (r.Profile is { } p)
                sb.AppendLine($"| Single-stream step time, {r.Label} (ms; median of {p.Rounds} paired rounds × {p.StepsPerRound} steps; ratio to GenAI paired per step) | " +
                    string.Join("; ", p.Variants.Where(v => !v.Name.StartsWith("genai", StringComparison.Ordinal)).Select(v => $"{v.Name}: {v.StepMs:F2} ({v.RatioToGenAi:F2}×)")) +
                    $"; argmax {p.ArgmaxMs:F3} | " +
                    string.Join("; ", p.Variants.Where(v => v.Name.StartsWith("genai", StringComparison.Ordinal)).Select(v => $"{v.Name}: {v.StepMs:F2} ({v.RatioToGenAi:F2}×)")) + " | |");
        }
        foreach (var r in results)
        {
            if (r.BatchProfile is { } bp)
                sb.AppendLine($"| Decode step at B={bp.Rows} (256-token prompts), {r.Label} (ms; median of {bp.Rounds} rounds × {bp.Steps} steps; ratio to GenAI per round) | " +
                    string.Join("; ", bp.Variants.Skip(1).Select(v => $"{v.Name}: {v.StepMs:F2} ({v.RatioToGenAi:F2}×)")) + $" | {bp.Variants[0].Name}: {bp.Variants[0].StepMs:F2} | |");
        }
        return sb.ToString();
    }

    static string F(Samples s) => s.Count == 0 ? "–" : s.Count == 1 ? $"{s.Median:F1}" : $"{s.Median:F1} [{s.Min:F1}–{s.Max:F1}]";
    static string Ratio(Samples a, Samples b) => a.Count == 0 || b.Count == 0 ? "–" : $"{a.Median / b.Median:F2}×";
    static string Percent(Samples a, Samples b) => a.Count == 0 || b.Count == 0 ? "–" : $"{100 * a.Median / b.Median:F0} %";

    static string CpuModel() => Machine.MachineInfo.CpuModel();
    static long MemoryBytes() => Machine.MachineInfo.MemoryBytes();
    static string Commit() => Machine.MachineInfo.Commit();
}
