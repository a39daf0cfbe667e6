using System.Diagnostics;
using System.Numerics.Tensors;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Where a single-stream decode step's time goes: medians over rounds of per-round medians, in ms.</summary>
public readonly record struct DecodeProfileResult(
    int Rounds, int StepsPerRound,
    double EngineStepMs, double EngineTokenIntervalMs, double RunnerDecodeMs, double RunnerArgmaxMs,
    double RunnerShortDecodeMs, int ShortWidth, int FullWidth, double GenAiStepMs,
    double EngineOverGenAi, double RunnerOverGenAi);

/// <summary>
/// Splits the single-stream decode step into the ORT run and everything else, with paired rounds so that the shared
/// machine's load drifts over all variants alike. Each round (in rotating order) measures:
/// * the engine: its step period from consecutive decode BeforeRun calls on the engine thread, and the token interval as
///   the async reader sees it;
/// * <see cref="ModelRunner.Decode"/> alone on a second runner (same binding, same fixed mask width = context length),
///   timed around the call, and the greedy argmax over its logits;
/// * the same with a runner whose context is only prompt + new tokens, to see what the fixed mask width costs;
/// * GenAI: each <c>GenerateNextToken</c> after the first.
/// The ratios are medians of per-round ratios (paired), which cancel load that changes between rounds.
/// </summary>
public static class DecodeProfile
{
    public static DecodeProfileResult Measure(InferenceEngine engine, GenAiClient genai, string modelDir, int[] prompt,
        int rounds, int steps, int threads)
    {
        int shortWidth = prompt.Length + steps + 1;
        using var full = new ModelRunner(ModelContract.Inspect(modelDir), 1, engine.ContextLength, prompt.Length, threads);
        using var narrow = new ModelRunner(ModelContract.Inspect(modelDir), 1, shortWidth, prompt.Length, threads);
        var engineStep = new List<double>();
        var engineInterval = new List<double>();
        var runnerDecode = new List<double>();
        var runnerArgmax = new List<double>();
        var narrowDecode = new List<double>();
        var genaiStep = new List<double>();
        var engineRatio = new List<double>();
        var runnerRatio = new List<double>();
        // One unmeasured round warms every variant.
        for (int round = -1; round < rounds; round++)
        {
            double e = 0, i = 0, r = 0, a = 0, n = 0, g = 0;
            for (int k = 0; k < 4; k++)
            {
                switch ((k + Math.Max(round, 0)) % 4)
                {
                    case 0: (e, i) = EngineRound(engine, prompt, steps); break;
                    case 1: (r, a) = RunnerRound(full, prompt, steps); break;
                    case 2: (n, _) = RunnerRound(narrow, prompt, steps); break;
                    default: g = Samples.MedianOf(genai.StepTimes(prompt, steps + 1)); break;
                }
            }
            if (round < 0) continue;
            engineStep.Add(e);
            engineInterval.Add(i);
            runnerDecode.Add(r);
            runnerArgmax.Add(a);
            narrowDecode.Add(n);
            genaiStep.Add(g);
            engineRatio.Add(e / g);
            runnerRatio.Add(r / g);
        }
        return new DecodeProfileResult(rounds, steps,
            Samples.MedianOf(engineStep), Samples.MedianOf(engineInterval), Samples.MedianOf(runnerDecode),
            Samples.MedianOf(runnerArgmax), Samples.MedianOf(narrowDecode), shortWidth, engine.ContextLength,
            Samples.MedianOf(genaiStep), Samples.MedianOf(engineRatio), Samples.MedianOf(runnerRatio));
    }

    /// <summary>Median engine step period (engine thread) and token interval (reader) over one request.</summary>
    static (double Step, double Interval) EngineRound(InferenceEngine engine, int[] prompt, int steps)
    {
        var stamps = new long[steps + 8];
        int count = 0;
        engine.BeforeRun = prefill =>
        {
            if (!prefill && count < stamps.Length) stamps[count++] = Stopwatch.GetTimestamp();
        };
        RequestTiming timing;
        try
        {
            timing = EngineClient.RunAsync(engine, prompt, steps + 1, 0).GetAwaiter().GetResult();
        }
        finally
        {
            engine.BeforeRun = null;
        }
        var periods = new List<double>(count);
        for (int i = 1; i < count; i++) periods.Add(RequestTiming.Seconds(stamps[i - 1], stamps[i]) * 1000);
        return (Samples.MedianOf(periods), 1000 / timing.DecodeTokensPerSecond);
    }

    /// <summary>Median ms of one B=1 decode run and of the greedy argmax after it.</summary>
    static (double Decode, double Argmax) RunnerRound(ModelRunner runner, int[] prompt, int steps)
    {
        var decode = new List<double>(steps);
        var argmax = new List<double>(steps);
        int[] token = [TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.Prefill(0, 0, prompt))];
        int[] length = [prompt.Length];
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            runner.Decode(1, token, length);
            long t1 = Stopwatch.GetTimestamp();
            token[0] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.DecodeLogits(0));
            long t2 = Stopwatch.GetTimestamp();
            length[0]++;
            decode.Add(RequestTiming.Seconds(t0, t1) * 1000);
            argmax.Add(RequestTiming.Seconds(t1, t2) * 1000);
        }
        return (Samples.MedianOf(decode), Samples.MedianOf(argmax));
    }
}
