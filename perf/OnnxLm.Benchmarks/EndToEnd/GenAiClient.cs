using System.Diagnostics;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// The reference: GenAI's <see cref="Generator"/> on the same folder with the same ORT thread count. Greedy, with
/// min_length = max_length so that, like ignore_eos in the engine, every run produces exactly the requested tokens.
/// <c>AppendTokens</c> runs the prefill; the first <c>GenerateNextToken</c> only samples from those logits, each later one
/// runs one decode step and samples, so first-to-last token spans the same 127 decode runs as the engine.
/// </summary>
public sealed class GenAiClient : IDisposable
{
    readonly Config config;
    readonly Model model;

    public GenAiClient(string modelDir, int threads)
    {
        config = new Config(modelDir);
        config.Overlay("""{"model":{"decoder":{"session_options":{"intra_op_num_threads":""" + threads.ToString(System.Globalization.CultureInfo.InvariantCulture) +
            ""","inter_op_num_threads":1}}}}""");
        model = new Model(config);
    }

    public RequestTiming Run(int[] prompt, int newTokens, long arrived = 0)
    {
        using var parameters = Parameters(prompt.Length + newTokens, batch: 1);
        using var generator = new Generator(model, parameters);
        long submitted = Stopwatch.GetTimestamp();
        generator.AppendTokens(prompt);
        generator.GenerateNextToken();
        long first = Stopwatch.GetTimestamp();
        int tokens = 1;
        while (!generator.IsDone())
        {
            generator.GenerateNextToken();
            tokens++;
        }
        long last = Stopwatch.GetTimestamp();
        if (tokens != newTokens) throw new InvalidOperationException($"GenAI produced {tokens} tokens, expected {newTokens}");
        return new RequestTiming(arrived == 0 ? submitted : arrived, submitted, first, last, tokens);
    }

    /// <summary>
    /// Milliseconds of each <c>GenerateNextToken</c> after the first (one decode run + sampling each). GenAI sizes its
    /// KV buffers to max_length (past_present_share_buffer), so <paramref name="maxLength"/> (default: just enough)
    /// sets the buffer length its attention kernel sees.
    /// </summary>
    public List<double> StepTimes(int[] prompt, int newTokens, int maxLength = 0)
    {
        int needed = prompt.Length + newTokens;
        using var parameters = Parameters(Math.Max(maxLength, needed), batch: 1);
        parameters.SetSearchOption("min_length", needed);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        generator.GenerateNextToken();
        var steps = new List<double>(newTokens);
        for (int i = 1; i < newTokens; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            generator.GenerateNextToken();
            steps.Add(RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000);
        }
        return steps;
    }

    /// <summary>A prefilled single-row generator whose first token is already sampled; each further
    /// <c>GenerateNextToken</c> is one decode run. GenAI sizes its KV buffers to max_length.</summary>
    public Generator StartStepping(int[] prompt, int maxLength, int minLength)
    {
        using var parameters = Parameters(maxLength, batch: 1);
        parameters.SetSearchOption("min_length", minLength);
        var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        generator.GenerateNextToken();
        return generator;
    }

    /// <summary>All prompts arrive at once and run one after another; returns timings and the wall time.</summary>
    public (RequestTiming[] Timings, double Seconds) RunSequential(int[][] prompts, int newTokens)
    {
        var timings = new RequestTiming[prompts.Length];
        long arrived = Stopwatch.GetTimestamp();
        for (int i = 0; i < prompts.Length; i++) timings[i] = Run(prompts[i], newTokens, arrived);
        return (timings, RequestTiming.Seconds(arrived, timings[^1].LastToken));
    }

    /// <summary>
    /// The ceiling for continuous batching on the same kernels: all prompts (equal length) as one static batch.
    /// Returns output tokens per second over the whole run (prefill included) and the time to the first token.
    /// </summary>
    public (double TokensPerSecond, double FirstTokenMs) RunStaticBatch(int[][] prompts, int newTokens)
    {
        int length = prompts[0].Length;
        var flat = new int[prompts.Length * length];
        for (int i = 0; i < prompts.Length; i++)
        {
            if (prompts[i].Length != length) throw new ArgumentException("a static batch needs prompts of equal length");
            prompts[i].CopyTo(flat, i * length);
        }
        using var parameters = Parameters(length + newTokens, prompts.Length);
        using var generator = new Generator(model, parameters);
        long start = Stopwatch.GetTimestamp();
        generator.AppendTokens(flat);
        generator.GenerateNextToken();
        long first = Stopwatch.GetTimestamp();
        int steps = 1;
        while (!generator.IsDone())
        {
            generator.GenerateNextToken();
            steps++;
        }
        long end = Stopwatch.GetTimestamp();
        if (steps != newTokens) throw new InvalidOperationException($"GenAI batch ran {steps} steps, expected {newTokens}");
        return (prompts.Length * newTokens / RequestTiming.Seconds(start, end), RequestTiming.Seconds(start, first) * 1000);
    }

    /// <summary>Median ms of one static-batch decode step (each <c>GenerateNextToken</c> after the first).</summary>
    public double StaticBatchStepMs(int[][] prompts, int steps)
    {
        int length = prompts[0].Length;
        var flat = new int[prompts.Length * length];
        for (int i = 0; i < prompts.Length; i++) prompts[i].CopyTo(flat, i * length);
        using var parameters = Parameters(length + steps + 1, prompts.Length);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(flat);
        generator.GenerateNextToken();
        var times = new List<double>(steps);
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            generator.GenerateNextToken();
            times.Add(RequestTiming.Seconds(t0, Stopwatch.GetTimestamp()) * 1000);
        }
        return Samples.MedianOf(times);
    }

    GeneratorParams Parameters(int maxLength, int batch)
    {
        var p = new GeneratorParams(model);
        p.SetSearchOption("max_length", maxLength);
        p.SetSearchOption("min_length", maxLength);
        p.SetSearchOption("do_sample", false);
        if (batch > 1) p.SetSearchOption("batch_size", batch);
        return p;
    }

    public void Dispose()
    {
        model.Dispose();
        config.Dispose();
    }
}
