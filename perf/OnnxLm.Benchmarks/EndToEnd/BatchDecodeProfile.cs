using System.Diagnostics;
using System.Numerics.Tensors;
using OnnxLm.Engine.Model;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Median ms of one batched decode step at B rows, per variant, over paired rounds.</summary>
public sealed record BatchDecodeProfileResult(int Rows, int Rounds, int Steps, IReadOnlyList<StepVariant> Variants);

/// <summary>
/// The decode step at B = 8 rows with 256-token prompts, the heart of the concurrency-8 benchmark: GenAI's static batch
/// step (KV buffers of max_length = prompt + steps) against <see cref="ModelRunner.Decode"/> alone over 8 rows with the
/// engine's binding at the engine's context (KV rows and mask width 2048) and at just enough width. Rounds run the
/// variants back to back in rotating order; ratios are per round against GenAI.
/// </summary>
public static class BatchDecodeProfile
{
    public static BatchDecodeProfileResult Measure(GenAiClient genai, string modelDir, int context, int[][] prompts,
        int rounds, int steps, int threads)
    {
        int rows = prompts.Length, shortLength = prompts[0].Length + steps + 1;
        using var wide = new ModelRunner(ModelContract.Inspect(modelDir), rows, context, prompts[0].Length, threads);
        using var narrow = new ModelRunner(ModelContract.Inspect(modelDir), rows, shortLength, prompts[0].Length, threads);
        string[] names = ["genai static batch", $"ORT run alone (engine binding), width {context}", $"ORT run alone (engine binding), width {shortLength}"];
        var times = names.Select(_ => new List<double>()).ToArray();
        var ratios = names.Select(_ => new List<double>()).ToArray();
        var value = new double[names.Length];
        for (int round = -1; round < rounds; round++)
        {
            for (int k = 0; k < names.Length; k++)
            {
                int v = (k + Math.Max(round, 0)) % names.Length;
                value[v] = v switch
                {
                    0 => genai.StaticBatchStepMs(prompts, steps),
                    1 => RunnerStepMs(wide, prompts, steps),
                    _ => RunnerStepMs(narrow, prompts, steps),
                };
            }
            if (round < 0) continue;
            for (int v = 0; v < names.Length; v++)
            {
                times[v].Add(value[v]);
                ratios[v].Add(value[v] / value[0]);
            }
        }
        var variants = new List<StepVariant>();
        for (int v = 0; v < names.Length; v++) variants.Add(new StepVariant(names[v], Samples.MedianOf(times[v]), Samples.MedianOf(ratios[v])));
        return new BatchDecodeProfileResult(rows, rounds, steps, variants);
    }

    static double RunnerStepMs(ModelRunner runner, int[][] prompts, int steps)
    {
        int rows = prompts.Length;
        int[] tokens = new int[rows], lengths = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            tokens[r] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.Prefill(r, 0, prompts[r]));
            lengths[r] = prompts[r].Length;
        }
        var times = new List<double>(steps);
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            runner.Decode(rows, tokens, lengths);
            times.Add(RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000);
            for (int r = 0; r < rows; r++)
            {
                tokens[r] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.DecodeLogits(r));
                lengths[r]++;
            }
        }
        return Samples.MedianOf(times);
    }
}
