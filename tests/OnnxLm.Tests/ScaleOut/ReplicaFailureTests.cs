using System.Collections.Concurrent;
using System.Text;
using static OnnxLm.Tests.ScaleOut.ScaleOutWire;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Replica processes behind HAProxy killed or drained: a stream on a SIGKILLed replica ends without <c>[DONE]</c> while
/// the other keys stay on their replicas with their cache hits; a plain request in flight on a killed replica is retried
/// by HAProxy on another and succeeds; a replica drained with SIGTERM under load costs clients nothing. Each test starts
/// its victim again at the end.
/// </summary>
[ClassDataSource<ProcessHaproxyCluster>(Shared = SharedType.PerClass)]
[NotInParallel(nameof(ReplicaFailureTests))]
public sealed class ReplicaFailureTests(ProcessHaproxyCluster cluster)
{
    /// <summary>Which replica each key lands on (each key's prompt is then cached there).</summary>
    async Task<Dictionary<string, string>> Place(string prefix, int count, int promptLength)
    {
        var placement = new Dictionary<string, string>();
        for (int k = 0; k < count; k++)
        {
            string key = $"{prefix}-{k}";
            placement[key] = (await Complete(cluster.Client, Prompt(seed: KeySeed(key), promptLength), maxTokens: 1, key)).Replica;
        }
        return placement;
    }

    static int KeySeed(string key) => 7 + key.Aggregate(0, (h, c) => (h * 31) + c) % 100_000;

    ReplicaProcess Process(string name) => cluster.Processes.Single(p => p.Name == name);

    async Task Restart(ReplicaProcess victim)
    {
        await victim.StopAsync();
        await victim.StartAsync();
        // Back in HAProxy's rotation once a health check passed (rise 1, inter 1 s).
        var deadline = DateTime.UtcNow.AddSeconds(20);
        for (int k = 0; ; k++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/health") { Headers = { { "X-Session-Id", $"back-{k}" } } };
            using var response = await cluster.Client.SendAsync(request);
            if (response.Headers.TryGetValues("X-Onnxlm-Replica", out var names) && names.Single() == victim.Name) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{victim.Name} did not come back behind HAProxy");
            await Task.Delay(50);
        }
    }

    [Test]
    public async Task A_replica_killed_mid_stream_ends_that_stream_without_done_and_the_other_keys_keep_their_replicas_and_cache()
    {
        var placement = await Place("stream", 12, promptLength: 100);
        string victimName = placement["stream-0"];
        var victim = Process(victimName);
        var others = placement.Where(p => p.Value != victimName).ToList();
        await Assert.That(others.Count).IsGreaterThan(0);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent(Body(Prompt(seed: 900, 40), maxTokens: 4000, key: "stream-0", stream: true), Encoding.UTF8, "application/json"),
            };
            using var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await Assert.That(response.Headers.GetValues("X-Onnxlm-Replica").Single()).IsEqualTo(victimName);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null && !line.StartsWith("data: {", StringComparison.Ordinal)) { }
            await Assert.That(line).IsNotNull();
            victim.Signal(ReplicaProcess.SigKill);

            var rest = new StringBuilder();
            try
            {
                while ((line = await reader.ReadLineAsync()) is not null) rest.AppendLine(line);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                // The connection broke: also an end without [DONE].
            }
            await Assert.That(rest.ToString()).DoesNotContain("[DONE]");
            await Assert.That(rest.ToString().Split('\n').Count(l => l.StartsWith("data: {", StringComparison.Ordinal))).IsLessThan(3999);

            // Every other key still lands where it did, and finds its prompt cached there.
            foreach (var (key, replica) in others)
            {
                var again = await Complete(cluster.Client, Prompt(seed: KeySeed(key), 100), maxTokens: 1, key);
                await Assert.That(again.Replica).IsEqualTo(replica).Because(key);
                await Assert.That(again.Cached).IsGreaterThanOrEqualTo(96).Because(key);
            }
        }
        finally
        {
            await Restart(victim);
        }
    }

    [Test]
    public async Task A_plain_request_in_flight_on_a_killed_replica_is_retried_by_haproxy_and_succeeds()
    {
        var placement = await Place("plain", 6, promptLength: 40);
        string victimName = placement["plain-0"];
        var victim = Process(victimName);
        try
        {
            // Frozen, the replica holds the request (HAProxy has sent it) without answering; then it dies.
            victim.Signal(ReplicaProcess.SigStop);
            var plain = Complete(cluster.Client, Prompt(seed: 77, 40), maxTokens: 16, key: "plain-0");
            await Task.Delay(300);
            await Assert.That(plain.IsCompleted).IsFalse();
            victim.Signal(ReplicaProcess.SigKill);
            var result = await plain;
            await Assert.That(result.Replica).IsNotEqualTo(victimName);
            await Assert.That(result.Text.Length).IsGreaterThan(0);
        }
        finally
        {
            await Restart(victim);
        }
    }

    [Test]
    public async Task A_replica_drained_with_sigterm_under_load_costs_clients_nothing()
    {
        var failures = new ConcurrentQueue<string>();
        int served = 0, next = 0;
        using var stop = new CancellationTokenSource();
        async Task Loop()
        {
            while (!stop.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                try
                {
                    await Complete(cluster.Client, Prompt(seed: 3000 + i, 30), maxTokens: 24, key: $"drain-{i % 30}");
                    Interlocked.Increment(ref served);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failures.Enqueue(e.Message);
                }
            }
        }
        var victim = cluster.Processes[1];
        var loops = Enumerable.Range(0, 4).Select(_ => Task.Run(Loop)).ToArray();
        try
        {
            await Task.Delay(1000);
            int before = served;
            victim.Signal(ReplicaProcess.SigTerm);
            await victim.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await Assert.That(victim.ExitCode).IsEqualTo(0);
            await Task.Delay(1000);
            await Assert.That(served).IsGreaterThan(before);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(loops);
            await Restart(victim);
        }
        await Assert.That(failures).IsEmpty().Because($"{failures.Count} of {served + failures.Count} failed: " + string.Join("\n", failures.Take(5)) + "\n" + cluster.Output);
        await Assert.That(served).IsGreaterThan(20);
    }
}
