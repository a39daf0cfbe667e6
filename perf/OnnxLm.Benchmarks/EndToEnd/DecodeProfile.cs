using System.Diagnostics;
using System.Numerics.Tensors;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Where a single-stream decode step's time goes (medians over one 128-token generation, in ms).</summary>
public readonly record struct DecodeProfileResult(
    double EngineStepMs, double RunnerDecodeMs, double RunnerArgmaxMs, double RunnerShortDecodeMs, int ShortWidth, int FullWidth);

/// <summary>
/// Splits the engine's single-stream step into the ORT run and everything else:
/// * the engine's step period, from consecutive decode BeforeRun calls on the engine thread;
/// * <see cref="ModelRunner.Decode"/> alone (the same binding, the same fixed mask width = context length), timed around
///   the call, and the greedy argmax over the logits;
/// * the same with a runner whose context is only prompt + new tokens, to see what the fixed mask width costs.
/// </summary>
public static class DecodeProfile
{
    public static DecodeProfileResult Measure(InferenceEngine engine, string modelDir, int[] prompt, int newTokens, int threads)
    {
        var stamps = new long[newTokens + 8];
        int count = 0;
        engine.BeforeRun = prefill =>
        {
            if (!prefill && count < stamps.Length) stamps[count++] = Stopwatch.GetTimestamp();
        };
        try
        {
            EngineClient.RunAsync(engine, prompt, newTokens, 0).GetAwaiter().GetResult();
        }
        finally
        {
            engine.BeforeRun = null;
        }
        var periods = new List<double>(count);
        for (int i = 1; i < count; i++) periods.Add(RequestTiming.Seconds(stamps[i - 1], stamps[i]) * 1000);

        int shortWidth = prompt.Length + newTokens;
        var (decodeFull, argmax) = RunnerDecode(modelDir, engine.ContextLength, prompt, newTokens, threads);
        var (decodeShort, _) = RunnerDecode(modelDir, shortWidth, prompt, newTokens, threads);
        return new DecodeProfileResult(Samples.MedianOf(periods), decodeFull, argmax, decodeShort, shortWidth, engine.ContextLength);
    }

    /// <summary>Median ms of one B=1 decode run and of the argmax after it, on a fresh runner with the given context.</summary>
    static (double Decode, double Argmax) RunnerDecode(string modelDir, int maxLen, int[] prompt, int newTokens, int threads)
    {
        using var runner = new ModelRunner(ModelContract.Inspect(modelDir), 1, maxLen, prompt.Length, threads);
        var decode = new List<double>(newTokens);
        var argmax = new List<double>(newTokens);
        int[] token = new int[1], length = new int[1];
        for (int pass = 0; pass < 2; pass++) // the first pass warms up; the second is measured
        {
            decode.Clear();
            argmax.Clear();
            token[0] = TensorPrimitives.IndexOfMax(runner.Prefill(0, 0, prompt));
            length[0] = prompt.Length;
            for (int i = 1; i < newTokens; i++)
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
        }
        return (Samples.MedianOf(decode), Samples.MedianOf(argmax));
    }
}
