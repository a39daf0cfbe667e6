using System.Collections.Concurrent;
using OnnxLm.Engine.Cache.Remote;
using OnnxLm.Tests.Fixtures;
using static OnnxLm.Tests.ScaleOut.ScaleOutWire;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Redis killed with SIGKILL under steady load through HAProxy, then restarted empty: no request fails, each replica's
/// circuit breaker opens and closes again, and remote hits resume.
/// </summary>
[ClassDataSource<RedisHaproxyCluster>(Shared = SharedType.PerClass)]
[NotInParallel(nameof(RedisOutageTests))]
public sealed class RedisOutageTests(RedisHaproxyCluster cluster)
{
    long Hits() => cluster.Replicas.Sum(r => r.Engine.Remote!.Hits);

    string State() => string.Join("; ", cluster.Replicas.Select(r => r.Engine.Remote!).Select(t =>
        $"gets {t.Gets} hits {t.Hits} misses {t.Misses} errors {t.Errors} late {t.Late} skipped {t.Skipped} written {t.BlocksWritten} " +
        $"dropped {t.WritesDropped} breaker {t.Breaker.State} opened {t.Breaker.Opened} closed {t.Breaker.Closed} connected {t.Connected}"));

    async Task Until(Func<bool> condition, string what, int seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {seconds} s: {what}: {State()}");
            await Task.Delay(20);
        }
    }

    [Test]
    public async Task Redis_killed_under_load_fails_no_request_and_the_tier_comes_back()
    {
        var failures = new ConcurrentQueue<string>();
        int iteration = 0, served = 0;
        using var stop = new CancellationTokenSource();
        async Task Loop()
        {
            while (!stop.IsCancellationRequested)
            {
                // Each prompt goes out under two keys: often two replicas, the second restoring from Redis what the first wrote.
                int i = Interlocked.Increment(ref iteration);
                var prompt = Prompt(seed: 1000 + i, length: 70);
                foreach (string key in new[] { $"load-{i}-a", $"load-{i}-b" })
                {
                    try
                    {
                        await Complete(cluster.Client, prompt, maxTokens: 4, key);
                        Interlocked.Increment(ref served);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        failures.Enqueue(e.Message);
                    }
                }
            }
        }
        var loops = Enumerable.Range(0, 3).Select(_ => Task.Run(Loop)).ToArray();
        try
        {
            await Until(() => Hits() >= 3, "remote hits in steady state", 30);
            await cluster.Redis.Kill();
            await Until(() => cluster.Replicas.All(r => r.Engine.Remote!.Breaker.Opened >= 1), "every replica's breaker opened", 20);
            int servedDuringOutage = served;
            await Until(() => served >= servedDuringOutage + 6, "requests served while Redis is down", 20);

            await cluster.Redis.StartAsync();   // empty: no persistence
            long hitsAtRestart = Hits();
            await Until(() => cluster.Replicas.All(r => r.Engine.Remote!.Breaker is { Closed: >= 1, State: BreakerState.Closed }),
                "every replica's breaker closed again", 30);
            await Until(() => Hits() >= hitsAtRestart + 3, "remote hits after the restart", 30);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(loops);
        }

        await Assert.That(failures).IsEmpty().Because(string.Join("\n", failures.Take(5)));
        await Assert.That(served).IsGreaterThan(20);
        foreach (var replica in cluster.Replicas)
        {
            using var client = ServerFixture.CreateClient(replica);
            string metrics = await client.GetStringAsync("/metrics");
            await Assert.That(Metric(metrics, "onnxlm:remote_kv_breaker_opened_total")).IsGreaterThanOrEqualTo(1);
            await Assert.That(Metric(metrics, "onnxlm:remote_kv_breaker_closed_total")).IsGreaterThanOrEqualTo(1);
            await Assert.That(Metric(metrics, "onnxlm:remote_kv_errors_total")).IsGreaterThanOrEqualTo(1);
            await Assert.That(Metric(metrics, "onnxlm:remote_kv_connected")).IsEqualTo(1);
        }
    }
}
