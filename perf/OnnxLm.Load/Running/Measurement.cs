using OnnxLm.Load.Cli;
using OnnxLm.Load.Client;
using OnnxLm.Load.Stats;

namespace OnnxLm.Load.Running;

/// <summary>
/// One measured run against one server: warm-up requests (own seed, results dropped), then the workload built from
/// <c>seed</c>. Callers give every server the same seed for the same run (identical requests) and each run a different
/// one, so a server's prefix cache never sees an earlier run's prompts.
/// </summary>
public static class Measurement
{
    /// <param name="requestOptions">The request fields (compare passes each server's own); default <see cref="LoadOptions.RequestOptions"/>.</param>
    public static async Task<RunSummary> RunAsync(Uri url, LoadOptions o, Arrival arrival, int seed, string label, CancellationToken ct,
        RequestOptions? requestOptions = null)
    {
        using var client = new StreamingClient(url, requestOptions ?? o.RequestOptions, TimeSpan.FromSeconds(o.TimeoutS));
        if (o.Warmup > 0)
        {
            // A different seed: warming with the measured requests would seed a prefix cache with them.
            var warm = o.CreateWorkload(seed ^ 0x5bd1e995);
            var runner = new LoadRunner(client, warm, new RunLimits(o.Warmup, null));
            var warmResults = await runner.RunAsync(Arrival.Closed(1), seed, null, ct).ConfigureAwait(false);
            foreach (var r in warmResults)
                if (!r.Ok) Console.Error.WriteLine($"[{label}] warm-up request failed: {r.Error}");
        }
        var workload = o.CreateWorkload(seed);
        var limits = o.LimitsFor(workload);
        RunSummary summary;
        await using (var progress = new ProgressReporter($"{label} {arrival}", limits.MaxRequests == int.MaxValue ? 0 : limits.MaxRequests))
        {
            var main = new LoadRunner(client, workload, limits);
            var results = await main.RunAsync(arrival, seed, progress, ct).ConfigureAwait(false);
            summary = RunSummary.From(label, arrival.ToString(), results, o.SloTtftMs, o.SloTpotMs);
        }
        if (summary.Failed > 0) Console.Error.WriteLine($"[{label} {arrival}] {summary.Failed} failed; first: {summary.FirstError}");
        return summary;
    }
}
