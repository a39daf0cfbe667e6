using System.Diagnostics;
using OnnxLm.Load.Client;
using OnnxLm.Load.Stats;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Load.Running;

/// <summary>
/// Drives a workload against one endpoint. Invariant: at most <see cref="RunLimits.MaxRequests"/> requests are issued
/// (a shared counter is reserved before each send) and none is issued after the duration limit; every issued request is
/// awaited, so the run ends by itself once the in-flight ones finish. A session's requests run one after another on
/// one client; closed loop keeps N sessions going, Poisson starts sessions at exponential intervals.
/// </summary>
public sealed class LoadRunner(StreamingClient client, Workload workload, RunLimits limits)
{
    int issued;
    long deadline;

    public async Task<IReadOnlyList<RequestResult>> RunAsync(Arrival arrival, int seed, ProgressReporter? progress, CancellationToken ct)
    {
        issued = 0;
        long start = Stopwatch.GetTimestamp();
        deadline = limits.Duration is { } d ? start + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var results = new List<RequestResult>();
        var gate = new Lock();

        async Task RunSession(Session session)
        {
            string? previous = null;
            // Plan first, then reserve: reserving for a session that has no next request would waste budget.
            while (!ct.IsCancellationRequested && session.TryNext(previous, out var plan) && TryReserve())
            {
                progress?.OnStarted();
                var r = await client.SendAsync(plan, start, ct).ConfigureAwait(false);
                progress?.OnCompleted(r.Ok, r.OutputTokens);
                lock (gate) results.Add(r);
                previous = r.Ok ? r.Text : null;
                if (!r.Ok && plan.CollectText) break; // a broken conversation cannot continue faithfully
            }
        }

        if (!arrival.IsPoisson)
        {
            var workers = new Task[arrival.Concurrency];
            for (int i = 0; i < workers.Length; i++)
            {
                workers[i] = Task.Run(async () =>
                {
                    while (!ct.IsCancellationRequested && HasBudget())
                    {
                        var session = workload.NextSession();
                        if (session is null) return;
                        await RunSession(session).ConfigureAwait(false);
                    }
                }, ct);
            }
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        else
        {
            var rng = new Random(seed);
            var running = new List<Task>();
            long next = start;
            while (!ct.IsCancellationRequested && HasBudget())
            {
                // Exponential inter-arrival times; scheduled against absolute times so sleep overshoot does not accumulate.
                double gapS = -Math.Log(1 - rng.NextDouble()) / arrival.Rate;
                next += (long)(gapS * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct).ConfigureAwait(false);
                if (!HasBudget()) break;
                var session = workload.NextSession();
                if (session is null) break;
                running.Add(Task.Run(() => RunSession(session), ct));
            }
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        results.Sort((a, b) => a.StartMs.CompareTo(b.StartMs));
        return results;
    }

    bool HasBudget() => Volatile.Read(ref issued) < limits.MaxRequests && Stopwatch.GetTimestamp() < deadline;

    bool TryReserve()
    {
        if (Stopwatch.GetTimestamp() >= deadline) return false;
        if (Interlocked.Increment(ref issued) <= limits.MaxRequests) return true;
        Interlocked.Decrement(ref issued);
        return false;
    }
}
