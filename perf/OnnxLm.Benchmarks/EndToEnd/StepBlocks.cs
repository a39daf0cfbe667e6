using System.Diagnostics;
using System.Numerics.Tensors;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The <c>blocks</c> diagnostic: single-stream decode step time of several runtimes living in this one process,
/// interleaved by blocks of 32 steps (not step by step: each ORT session has its own intra-op pool whose worker spins
/// after a run, so step-level interleaving makes every variant pay for the others' spinning). Each round runs one block
/// of every variant in rotating order; a variant's ratio is the median over rounds of its block median divided by
/// GenAI's block median in the same round.
/// It is how the load-order bias was found (see <see cref="IsolatedRun"/>): the engine the comparison loads first is
/// slower than a second, identical engine loaded later, and slower than its own runner stepped from this thread only
/// as long as it is that first engine's runner.
/// </summary>
public static class StepBlocks
{
    public static IReadOnlyList<StepVariant> Measure(InferenceEngine engine, GenAiClient genai, string modelDir, int[] prompt,
        int rounds, int steps, int threads)
    {
        int context = engine.ContextLength, slots = ComparisonOptions.MaxBatchSize;
        using var runner = new ModelRunner(ModelContract.Inspect(modelDir), slots, context, prompt.Length, threads);
        using var second = EngineComparison.StartEngine(modelDir, threads);
        while (!second.IsReady) Thread.Sleep(5);
        second.HugePagesSettled.Wait();
        var variants = new (string Name, Func<List<double>> Block)[]
        {
            ("genai (loaded second), max_length = prompt+new", () => genai.StepTimes(prompt, steps + 1, 0)),
            ($"bare runner loaded third, engine shape ({slots} rows x {context})", () => RunnerBlock(runner, prompt, steps)),
            ("first engine's runner, stepped from this thread", () => RunnerBlock(engine.Runner, prompt, steps)),
            ("first engine, step period", () => DecodeProfile.EnginePeriods(engine, prompt, steps + 1)),
            ("second engine (loaded last), step period", () => DecodeProfile.EnginePeriods(second, prompt, steps + 1)),
        };
        var medians = variants.Select(_ => new List<double>()).ToArray();
        var ratios = variants.Select(_ => new List<double>()).ToArray();
        var block = new double[variants.Length];
        for (int round = -1; round < rounds; round++) // round -1 warms up
        {
            for (int k = 0; k < variants.Length; k++)
            {
                int v = (k + Math.Max(round, 0)) % variants.Length;
                block[v] = Samples.MedianOf(variants[v].Block());
            }
            if (round < 0) continue;
            for (int v = 0; v < variants.Length; v++)
            {
                medians[v].Add(block[v]);
                ratios[v].Add(block[v] / block[0]);
            }
        }
        return variants.Select((v, i) => new StepVariant(v.Name, Samples.MedianOf(medians[i]), Samples.MedianOf(ratios[i]))).ToList();
    }

    /// <summary>Greedy decode of one row, timing each run plus argmax. Only while the row's engine (if any) is idle.</summary>
    static List<double> RunnerBlock(ModelRunner runner, int[] prompt, int steps)
    {
        int[] token = [TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.Prefill(0, 0, prompt))];
        int[] length = [prompt.Length];
        var times = new List<double>(steps);
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            runner.Decode(1, token, length);
            token[0] = TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)runner.DecodeLogits(0));
            length[0]++;
            times.Add(RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000);
        }
        return times;
    }
}
