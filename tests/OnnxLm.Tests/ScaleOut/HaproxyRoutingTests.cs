using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Cache-affinity routing through the repository's HAProxy configuration: a session key (X-Session-Id, else the body's
/// prompt_cache_key, else user) always lands on one replica, the keys spread over every replica, and a hot key spills to
/// another replica once its own carries more than the bounded load allows.
/// </summary>
[ClassDataSource<HaproxyCluster>(Shared = SharedType.PerClass)]
[NotInParallel(nameof(HaproxyRoutingTests))]
public sealed class HaproxyRoutingTests(HaproxyCluster cluster)
{
    async Task<string> ReplicaFor(string body, string? sessionHeader = null)
    {
        using var request = OpenAiWire.Post("/v1/completions", body);
        if (sessionHeader is not null) request.Headers.Add("X-Session-Id", sessionHeader);
        using var response = await cluster.Client.SendAsync(request);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{cluster.Output}");
        return response.Headers.GetValues("X-Onnxlm-Replica").Single();
    }

    [Test]
    public async Task Every_key_stays_on_one_replica_and_the_keys_cover_every_replica()
    {
        var placement = new Dictionary<string, HashSet<string>>();
        for (int round = 0; round < 3; round++)
            for (int k = 0; k < 20; k++)
            {
                string key = $"conversation-{k}";
                string replica = await ReplicaFor($$"""{"prompt":"hello {{round}}","max_tokens":1,"prompt_cache_key":"{{key}}"}""");
                (placement.TryGetValue(key, out var set) ? set : placement[key] = []).Add(replica);
            }
        foreach (var (key, replicas) in placement)
            await Assert.That(replicas.Count).IsEqualTo(1).Because($"{key} landed on {string.Join(", ", replicas)}");
        var used = placement.Values.Select(s => s.Single()).Distinct().ToList();
        await Assert.That(used.Count).IsEqualTo(cluster.ReplicaNames.Count).Because($"20 keys used {string.Join(", ", used)}");
    }

    [Test]
    public async Task The_header_wins_over_the_body_key_and_user_is_the_last_resort()
    {
        // Find two keys on different replicas, then send one key in the header and the other in the body.
        string a = "", b = "", replicaA = "", replicaB = "";
        for (int k = 0; replicaB.Length == 0; k++)
        {
            string key = $"pick-{k}";
            string replica = await ReplicaFor($$"""{"prompt":"x","max_tokens":1,"prompt_cache_key":"{{key}}"}""");
            if (a.Length == 0) { a = key; replicaA = replica; }
            else if (replica != replicaA) { b = key; replicaB = replica; }
            await Assert.That(k).IsLessThan(200);
        }
        for (int i = 0; i < 5; i++)
        {
            await Assert.That(await ReplicaFor($$"""{"prompt":"x","max_tokens":1,"prompt_cache_key":"{{b}}"}""", sessionHeader: a)).IsEqualTo(replicaA);
            await Assert.That(await ReplicaFor($$"""{"prompt":"x","max_tokens":1,"user":"{{b}}"}""")).IsEqualTo(replicaB);
        }
    }

    [Test]
    public async Task A_key_after_a_long_chat_in_the_body_still_routes()
    {
        // Clients put messages first: the key of a long conversation sits after ~64 KiB of text, inside HAProxy's buffer.
        string history = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 1600));
        for (int k = 0; k < 6; k++)
        {
            string key = $"long-chat-{k}";
            string small = await ReplicaFor($$"""{"prompt":"x","max_tokens":1,"prompt_cache_key":"{{key}}"}""");
            using var request = OpenAiWire.Post("/v1/chat/completions",
                $$"""{"messages":[{"role":"user","content":"{{history}}"},{"role":"user","content":"and?"}],"max_tokens":1,"prompt_cache_key":"{{key}}"}""");
            await Assert.That(request.Content!.Headers.ContentLength ?? (await request.Content.ReadAsByteArrayAsync()).Length).IsGreaterThan(64 * 1024);
            using var response = await cluster.Client.SendAsync(request);
            await Assert.That(response.Headers.GetValues("X-Onnxlm-Replica").Single()).IsEqualTo(small).Because(key);
        }
    }

    [Test]
    public async Task A_hot_key_spills_to_another_replica_under_bounded_load()
    {
        // One sequence at a time per replica: 9 long requests of one key pile up where the key hashes, until HAProxy's
        // hash-balance-factor 150 sends the rest elsewhere.
        const string body = """{"prompt":"hot","max_tokens":300,"ignore_eos":true,"prompt_cache_key":"the-hot-key"}""";
        var replicas = await Task.WhenAll(Enumerable.Range(0, 9).Select(_ => ReplicaFor(body)));
        var counts = replicas.GroupBy(r => r).ToDictionary(g => g.Key, g => g.Count());
        await Assert.That(counts.Count).IsGreaterThanOrEqualTo(2).Because($"placement: {string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"))}");
        await Assert.That(counts.Values.Max()).IsLessThan(9);
    }
}
