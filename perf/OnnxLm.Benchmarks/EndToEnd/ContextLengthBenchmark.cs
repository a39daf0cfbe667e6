using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Model.Builder;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>context</c> subcommand: does decode speed depend on the configured context length (issue 11)? One model folder
/// (the Benchmark preset built with <c>context_length</c> 131,072), two engines loaded side by side, one configured with
/// <c>--context-length 2048</c> and one with 131,072, the same conversation (a fixed prompt, greedy, ignore_eos) on each;
/// rounds alternate which engine goes first so machine load hits both alike. Reports median decode tokens/s of each and
/// the median of the per-round ratios, plus the process's resident memory after each engine's first request.
/// Writes markdown (<c>--out FILE.md</c>) and the samples as JSON next to it.
/// </summary>
public static class ContextLengthBenchmark
{
    static void Log(string m) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {m}");

    public const int LongContext = 131072;

    public static int Run(string[] args)
    {
        int promptTokens = 256, newTokens = 256, slots = 1;
        var o = ModelBenchArgs.Parse(args, Path.Combine("artifacts", "perf", "context.md"),
            "context [--weights fp32|int4] [--repeats N] [--model-cache DIR] [--out FILE.md] [--prompt-tokens N] [--new-tokens N] [--slots N]",
            (option, next) => option switch
            {
                "--prompt-tokens" => int.TryParse(next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out promptTokens) && promptTokens > 0,
                "--new-tokens" => int.TryParse(next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out newTokens) && newTokens > 1,
                "--slots" => int.TryParse(next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out slots) && slots is > 0 and <= 8,
                _ => false,
            });
        if (o is null) return 2;
        var preset = ModelBuilderOptions.Benchmark with { Weights = o.Weights, ContextLength = LongContext };
        string dir = Path.Combine(o.ModelCache, $"benchmark-{o.WeightsName}-ctx{LongContext}-v{ModelBuilder.FormatVersion}");
        if (!File.Exists(Path.Combine(dir, ModelBuilder.GenAiConfigFileName)))
        {
            Log($"building {dir}");
            ModelBuilder.Build(dir, preset);
        }
        int[] contexts = [2048, LongContext];
        var prompt = Prompt(promptTokens, preset.EndOfTextTokenId);
        var (stepMs, stepRatios) = RunnerSteps(dir, contexts, prompt, newTokens, o.Repeats);
        var engines = new InferenceEngine[contexts.Length];
        var rssAfterFirst = new long[contexts.Length];
        var rates = contexts.Select(_ => new List<double>()).ToArray();
        var ratios = new List<double>();
        string loadAtStart = Machine.MachineInfo.LoadAverage();
        try
        {
            for (int i = 0; i < contexts.Length; i++)
            {
                engines[i] = InferenceEngine.Start(new EngineOptions
                {
                    ModelDirectory = dir, MaxBatchSize = slots, ContextLength = contexts[i], PrefixCache = false, SsdCache = false,
                    Threads = Environment.ProcessorCount, PrefillStepSize = Math.Min(512, promptTokens),
                });
                while (!engines[i].IsReady) Thread.Sleep(5);
                Decode(engines[i], prompt, newTokens);   // warm-up, and the RSS a first conversation leaves
                rssAfterFirst[i] = Rss();
                Log($"context {contexts[i]}: loaded, RSS after one conversation {rssAfterFirst[i] >> 20} MiB");
            }
            for (int r = 0; r < o.Repeats; r++)
            {
                var round = new double[contexts.Length];
                for (int k = 0; k < contexts.Length; k++)
                {
                    int i = (k + r) % contexts.Length;
                    round[i] = Decode(engines[i], prompt, newTokens);
                    rates[i].Add(round[i]);
                }
                ratios.Add(round[1] / round[0]);
                Log($"round {r}: {string.Join(", ", contexts.Select((c, i) => $"ctx {c}: {round[i]:F2} tok/s"))}, ratio {ratios[^1]:F3}");
            }
        }
        finally
        {
            foreach (var e in engines) e?.Dispose();
        }

        var md = new StringBuilder();
        md.AppendLine($"### Decode speed vs configured context, benchmark model {o.WeightsName} ({preset.ParameterCount / 1e6:F1}M params, context_length {LongContext}), {Environment.ProcessorCount} cores, {o.Repeats} rounds (median)");
        md.AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project perf/OnnxLm.Benchmarks -- context {string.Join(' ', args)}`; {promptTokens}-token prompt, {newTokens} new tokens, greedy, {slots} slot(s); load at start {loadAtStart}");
        md.AppendLine();
        md.AppendLine("| --context-length | engine decode tok/s (1000 / median step period, median of conversations) | ORT decode run alone, ms/step (median, steps interleaved) | process RSS after its first conversation |");
        md.AppendLine("|---|---|---|---|");
        for (int i = 0; i < contexts.Length; i++)
            md.AppendLine($"| {contexts[i]:N0} | {Samples.MedianOf(rates[i]):F2} | {stepMs[i]:F2} | {rssAfterFirst[i] >> 20} MiB{(i > 0 ? " (both engines loaded)" : "")} |");
        md.AppendLine();
        md.AppendLine($"Decode speed {LongContext:N0} / 2,048: **{Samples.MedianOf(stepRatios):F3}** (median of per-step ratios, interleaved ORT runs); " +
            $"{Samples.MedianOf(ratios):F3} (median of per-round ratios of whole engine conversations, alternating; noisier on a shared machine)");
        string output = o.Out;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, md.ToString());
        var json = new StringBuilder("{\"contexts\":[");
        json.AppendJoin(',', contexts).Append("],\"tokens_per_second\":[");
        json.AppendJoin(',', rates.Select(l => "[" + string.Join(',', l.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]"));
        json.Append("],\"step_ms\":[").AppendJoin(',', stepMs.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        json.Append("],\"step_ratios\":[").AppendJoin(',', stepRatios.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        json.Append("],\"ratios\":[").AppendJoin(',', ratios.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        json.Append("],\"rss_after_first\":[").AppendJoin(',', rssAfterFirst).Append("],\"load_at_start\":\"").Append(loadAtStart).Append("\"}\n");
        File.WriteAllText(Path.ChangeExtension(output, ".json"), json.ToString());
        Console.WriteLine(md.ToString());
        return 0;
    }

    /// <summary>
    /// The ORT decode run alone, one runner per context, stepped alternately (one step of each, rotating which goes first),
    /// so both see the same machine load within milliseconds: the per-step ratio is robust where whole conversations on a
    /// shared machine are not. Returns each context's median step (ms) and the per-step ratios long / short.
    /// </summary>
    static (double[] StepMs, List<double> Ratios) RunnerSteps(string dir, int[] contexts, int[] prompt, int steps, int rounds)
    {
        var runners = contexts.Select(c => new ModelRunner(ModelContract.Inspect(dir), 1, c, prompt.Length, Environment.ProcessorCount)).ToArray();
        var times = contexts.Select(_ => new List<double>()).ToArray();
        var ratios = new List<double>();
        var step = new double[contexts.Length];
        try
        {
            for (int round = -1; round < rounds; round++)   // round -1 warms up
            {
                var tokens = runners.Select(r => new[] { TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)r.Prefill(0, 0, prompt)) }).ToArray();
                var lengths = runners.Select(_ => new[] { prompt.Length }).ToArray();
                for (int s = 0; s < steps; s++)
                {
                    for (int k = 0; k < runners.Length; k++)
                    {
                        int i = (k + s) % runners.Length;
                        long t0 = Stopwatch.GetTimestamp();
                        runners[i].Decode(1, tokens[i], lengths[i]);
                        step[i] = RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000;
                        tokens[i][0] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runners[i].DecodeLogits(0));
                        lengths[i][0]++;
                    }
                    if (round < 0) continue;
                    for (int i = 0; i < runners.Length; i++) times[i].Add(step[i]);
                    ratios.Add(step[0] / step[1]);   // tok/s ratio long/short = step time short/long
                }
                if (round >= 0) Log($"runner round {round}: median step {string.Join(", ", contexts.Select((c, i) => $"ctx {c}: {Samples.MedianOf(times[i]):F2} ms"))}, tok/s ratio {Samples.MedianOf(ratios):F3}");
            }
        }
        finally
        {
            foreach (var r in runners) r.Dispose();
        }
        return (times.Select(Samples.MedianOf).ToArray(), ratios);
    }

    /// <summary>Decode tokens/s of one conversation: 1000 / the median engine step period, stamped on the engine thread
    /// (a reader's stamps are not: on a loaded machine the reader may wake late and then drain many tokens at once).</summary>
    static double Decode(InferenceEngine engine, int[] prompt, int newTokens) =>
        1000 / Samples.MedianOf(DecodeProfile.EnginePeriods(engine, prompt, newTokens - 1));

    static int[] Prompt(int length, int vocab)
    {
        var random = new Random(11);
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = random.Next(256, vocab);
        return p;
    }

    static long Rss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return Environment.WorkingSet;
    }
}
