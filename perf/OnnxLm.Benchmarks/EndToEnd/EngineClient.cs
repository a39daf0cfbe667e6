using System.Diagnostics;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// Drives <see cref="InferenceEngine"/> the way an HTTP handler does: submit, then read the request's event ring with
/// <c>WaitToReadAsync</c>/<c>TryRead</c> on the thread pool, stamping the first and last token as the reader sees them.
/// Every request is greedy with ignore_eos, so each produces exactly its max_tokens.
/// </summary>
public static class EngineClient
{
    public static GenerationRequest Request(int[] prompt, int maxTokens) =>
        new(prompt, SamplingParams.Greedy, maxTokens, ignoreEos: true, eventCapacity: 1024);

    /// <summary>Submits and reads one request to its end.</summary>
    public static async Task<RequestTiming> RunAsync(InferenceEngine engine, int[] prompt, int maxTokens, long arrived)
    {
        var request = Request(prompt, maxTokens);
        long submitted = Stopwatch.GetTimestamp();
        if (!engine.TrySubmit(request)) throw new InvalidOperationException("the engine refused the request (queue full)");
        return await ReadAsync(request, arrived == 0 ? submitted : arrived, submitted).ConfigureAwait(false);
    }

    static async Task<RequestTiming> ReadAsync(GenerationRequest request, long arrived, long submitted)
    {
        var events = request.Events;
        long first = 0, last = 0;
        int tokens = 0;
        string? error = null;
        while (await events.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (events.TryRead(out var ev))
            {
                if (ev.Kind == TokenEventKind.Token)
                {
                    last = Stopwatch.GetTimestamp();
                    if (tokens++ == 0) first = last;
                }
                else if (ev.Kind == TokenEventKind.Error) error = ev.Error;
            }
        }
        if (error is not null) throw new InvalidOperationException("engine error: " + error);
        if (tokens != request.MaxTokens) throw new InvalidOperationException($"expected {request.MaxTokens} tokens, got {tokens}");
        return new RequestTiming(arrived, submitted, first, last, tokens);
    }

    /// <summary>
    /// All <paramref name="prompts"/> arrive at once; <paramref name="concurrency"/> clients each submit the next one when
    /// their previous request finished. Returns the timings (in prompt order) and the wall time from arrival to the last token.
    /// </summary>
    public static (RequestTiming[] Timings, double Seconds) RunConcurrent(InferenceEngine engine, int[][] prompts, int maxTokens, int concurrency)
    {
        var timings = new RequestTiming[prompts.Length];
        int next = -1;
        long arrived = Stopwatch.GetTimestamp();
        var clients = new Task[concurrency];
        for (int c = 0; c < concurrency; c++)
        {
            clients[c] = Task.Run(async () =>
            {
                for (int i = Interlocked.Increment(ref next); i < prompts.Length; i = Interlocked.Increment(ref next))
                    timings[i] = await RunAsync(engine, prompts[i], maxTokens, arrived).ConfigureAwait(false);
            });
        }
        Task.WaitAll(clients);
        long end = timings.Max(t => t.LastToken);
        return (timings, RequestTiming.Seconds(arrived, end));
    }

    /// <summary>Submits a one-token greedy request; returns ms from submission to its token and the prompt tokens served
    /// from the prefix cache.</summary>
    public static (double Ms, int CachedTokens) TimeToFirstToken(InferenceEngine engine, int[] prompt)
    {
        var request = Request(prompt, 1);
        long start = Stopwatch.GetTimestamp();
        if (!engine.TrySubmit(request)) throw new InvalidOperationException("the engine refused the request (queue full)");
        double ms = -1;
        int cached = 0;
        while (request.Events.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            while (request.Events.TryRead(out var ev))
            {
                if (ev.Kind == TokenEventKind.Token && ms < 0) ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (ev.Kind == TokenEventKind.Finished) cached = ev.CachedTokens;
                if (ev.Kind == TokenEventKind.Error) throw new InvalidOperationException("engine error: " + ev.Error);
            }
        return (ms, cached);
    }
}
