using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>One variant's single-stream step time (median, ms) and the median of its paired ratio to the baseline.</summary>
public readonly record struct StepVariant(string Name, double StepMs, double RatioToGenAi);

public sealed record DecodeProfileResult(int Rounds, int StepsPerRound, double ArgmaxMs, IReadOnlyList<StepVariant> Variants);

/// <summary>
/// Where a single-stream decode step's time goes, and what the KV buffer / mask width costs. The shared machine's load
/// moves by 2× within seconds, so variants are paired as tightly as possible:
/// * decode runs are interleaved step by step (one step of each variant in rotating order), so every step of a variant
///   has neighbours of every other variant a few ms away; ratios are medians of per-step ratios to GenAI's step;
///   variants: GenAI with max_length just enough (the baseline) and = the engine's context, and
///   <see cref="ModelRunner.Decode"/> alone (the engine's binding, KV rows and mask width = the runner's context) at the
///   engine's context and just enough;
/// * the engine cannot be stepped from outside, so its step period (consecutive decode BeforeRun calls on the engine
///   thread: run + sampling + detokenize + publish + scheduling) is paired per round with a runner round of the same
///   width right after it.
/// </summary>
public static class DecodeProfile
{
    public static DecodeProfileResult Measure(InferenceEngine engine, GenAiClient genai, string modelDir, int[] prompt,
        int rounds, int steps, int threads)
    {
        int context = engine.ContextLength, shortLength = prompt.Length + steps + 1;
        using var wide = new ModelRunner(ModelContract.Inspect(modelDir), 1, context, prompt.Length, threads);
        using var narrow = new ModelRunner(ModelContract.Inspect(modelDir), 1, shortLength, prompt.Length, threads);
        string[] names =
        [
            "genai, max_length = prompt+new",
            $"genai, max_length = {context}",
            $"ORT run alone (engine binding), KV/mask width {context}",
            $"ORT run alone (engine binding), KV/mask width {shortLength}",
        ];
        var times = names.Select(_ => new List<double>()).ToArray();
        var ratios = names.Select(_ => new List<double>()).ToArray();
        var argmax = new List<double>();
        var engineStep = new List<double>();
        var engineRatio = new List<double>();
        var step = new double[names.Length];
        for (int round = -1; round < rounds; round++) // round -1 warms up
        {
            using (Generator g0 = genai.StartStepping(prompt, shortLength, shortLength), g1 = genai.StartStepping(prompt, context, shortLength))
            {
                var r0 = new RunnerState(wide, prompt);
                var r1 = new RunnerState(narrow, prompt);
                for (int i = 0; i < steps; i++)
                {
                    for (int k = 0; k < names.Length; k++)
                    {
                        int v = (k + i) % names.Length;
                        long t0 = Stopwatch.GetTimestamp();
                        switch (v)
                        {
                            case 0: g0.GenerateNextToken(); break;
                            case 1: g1.GenerateNextToken(); break;
                            case 2: r0.Step(argmax); break;
                            default: r1.Step(argmax); break;
                        }
                        step[v] = RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000;
                    }
                    if (round < 0) continue;
                    for (int v = 0; v < names.Length; v++)
                    {
                        times[v].Add(step[v]);
                        ratios[v].Add(step[v] / step[0]);
                    }
                }
            }
            // The engine, paired per round with the same-width runner right after it.
            double e = EngineRound(engine, prompt, steps);
            var r = new RunnerState(wide, prompt);
            var runnerSteps = new List<double>(steps);
            for (int i = 0; i < steps; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                r.Step(argmax);
                runnerSteps.Add(RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000);
            }
            if (round < 0) { argmax.Clear(); continue; }
            engineStep.Add(e);
            engineRatio.Add(e / Samples.MedianOf(runnerSteps));
        }
        var variants = new List<StepVariant>();
        for (int v = 0; v < names.Length; v++)
            variants.Add(new StepVariant(names[v], Samples.MedianOf(times[v]), Samples.MedianOf(ratios[v])));
        // Engine relative to GenAI = (engine / same-width runner, per round) × (same-width runner / GenAI, per step).
        variants.Add(new StepVariant($"engine step (vs ORT run alone at width {context}: {Samples.MedianOf(engineRatio):F3}×)",
            Samples.MedianOf(engineStep), Samples.MedianOf(engineRatio) * variants[2].RatioToGenAi));
        return new DecodeProfileResult(rounds, steps, Samples.MedianOf(argmax), variants);
    }

    /// <summary>A runner row being decoded greedily one step at a time.</summary>
    sealed class RunnerState
    {
        readonly ModelRunner runner;
        readonly int[] token, length;

        public RunnerState(ModelRunner runner, int[] prompt)
        {
            this.runner = runner;
            token = [TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.Prefill(0, 0, prompt))];
            length = [prompt.Length];
        }

        /// <summary>One decode run (timed by the caller) plus argmax (also timed into <paramref name="argmax"/>).</summary>
        public void Step(List<double> argmax)
        {
            runner.Decode(1, token, length);
            long t = Stopwatch.GetTimestamp();
            token[0] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.DecodeLogits(0));
            argmax.Add(RequestTiming.Seconds(t, Stopwatch.GetTimestamp()) * 1000);
            length[0]++;
        }
    }

    /// <summary>Median engine step period over one request, from decode BeforeRun calls on the engine thread.</summary>
    static double EngineRound(InferenceEngine engine, int[] prompt, int steps) => Samples.MedianOf(EnginePeriods(engine, prompt, steps));

    /// <summary>The engine's step periods (ms) over one request of <paramref name="steps"/> + 1 tokens: the time between
    /// consecutive decode BeforeRun calls on the engine thread.</summary>
    internal static List<double> EnginePeriods(InferenceEngine engine, int[] prompt, int steps)
    {
        var stamps = new long[steps + 8];
        int count = 0;
        engine.BeforeRun = prefill =>
        {
            if (!prefill && count < stamps.Length) stamps[count++] = Stopwatch.GetTimestamp();
        };
        try
        {
            EngineClient.RunAsync(engine, prompt, steps + 1, 0).GetAwaiter().GetResult();
        }
        finally
        {
            engine.BeforeRun = null;
        }
        var periods = new List<double>(count);
        for (int i = 1; i < count; i++) periods.Add(RequestTiming.Seconds(stamps[i - 1], stamps[i]) * 1000);
        return periods;
    }
}
