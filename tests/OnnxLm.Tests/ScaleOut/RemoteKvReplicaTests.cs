using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using static OnnxLm.Tests.ScaleOut.ScaleOutWire;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Two replicas (in-process servers on the tiny model) sharing one <c>redis-server</c>: a long prompt computed on A is
/// restored on B from Redis with identical greedy output and counted per tier; corrupted values are rejected and the
/// prompt recomputed; a replica of other weights never gets the blocks; a replica whose Redis is unreachable from the
/// start starts and serves.
/// </summary>
[ClassDataSource<RedisServer>(Shared = SharedType.PerClass)]
[NotInParallel(nameof(RemoteKvReplicaTests))]
public sealed class RemoteKvReplicaTests(RedisServer redis) : IDisposable
{
    readonly string kvDir = Path.Combine(Path.GetTempPath(), "onnxlm-remote-tests", Guid.NewGuid().ToString("N"));

    Task<OnnxLmServer> Replica(string name, Engine.Cache.Remote.RedisEndpoint? endpoint = null, string? model = null) =>
        ServerFixture.StartDedicatedAsync(o =>
        {
            o.Model = model ?? o.Model;
            o.ReplicaName = name;
            o.RemoteKv = endpoint ?? redis.Endpoint;
            o.RemoteKvAlwaysFetch = true;   // the tiny model recomputes faster than any fetch; the policy has its own tests
            o.KvCacheDir = kvDir;           // the content-hash cache goes here, not into the user's cache
        });

    static void Flushed(OnnxLmServer server)
    {
        if (!server.Engine.Remote!.WaitForWrites(TimeSpan.FromSeconds(10))) throw new TimeoutException("remote writes did not finish");
    }

    static async Task Connected(OnnxLmServer server)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!server.Engine.Remote!.Connected)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("not connected to redis");
            await Task.Delay(10);
        }
    }

    [Test]
    public async Task A_long_prompt_computed_on_one_replica_is_restored_on_another_from_redis()
    {
        await redis.FlushAsync();
        await using var a = await Replica("replica-a");
        await using var b = await Replica("replica-b");
        await Connected(a);
        await Connected(b);
        using var clientA = ServerFixture.CreateClient(a);
        using var clientB = ServerFixture.CreateClient(b);
        var prompt = Prompt(seed: 11, length: 200);
        int fullBlocks = (prompt.Length - 1) / 16 * 16;

        var first = await Complete(clientA, prompt, maxTokens: 12);
        await Assert.That(first.Cached).IsEqualTo(0);
        Flushed(a);
        await Assert.That(a.Engine.Remote!.BlocksWritten).IsGreaterThanOrEqualTo(fullBlocks / 16);

        var second = await Complete(clientB, prompt, maxTokens: 12);
        await Assert.That(second.Text).IsEqualTo(first.Text);
        await Assert.That(second.Cached).IsGreaterThanOrEqualTo(fullBlocks);
        string metrics = await clientB.GetStringAsync("/metrics");
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_hits_total")).IsGreaterThanOrEqualTo(fullBlocks / 16);
        await Assert.That(TierTokens(metrics, "remote")).IsGreaterThanOrEqualTo(fullBlocks);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_rejects_total")).IsEqualTo(0);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_breaker_state")).IsEqualTo(0);

        // Asked again, B has the blocks in its own pool: the pool serves them, Redis is not asked for them again.
        double hits = Metric(metrics, "onnxlm:remote_kv_hits_total");
        var third = await Complete(clientB, prompt, maxTokens: 12);
        await Assert.That(third.Text).IsEqualTo(first.Text);
        metrics = await clientB.GetStringAsync("/metrics");
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_hits_total")).IsEqualTo(hits);
        await Assert.That(TierTokens(metrics, "pool")).IsGreaterThanOrEqualTo(fullBlocks);
    }

    [Test]
    public async Task Corrupted_values_in_redis_are_rejected_and_the_prompt_is_recomputed()
    {
        await redis.FlushAsync();
        await using var a = await Replica("replica-a");
        await using var b = await Replica("replica-b");
        await Connected(a);
        await Connected(b);
        using var clientA = ServerFixture.CreateClient(a);
        using var clientB = ServerFixture.CreateClient(b);
        var prompt = Prompt(seed: 12, length: 120);

        var first = await Complete(clientA, prompt, maxTokens: 12);
        Flushed(a);
        var db = await redis.DatabaseAsync();
        var keys = await redis.KeysAsync("onnxlm:kv:v1:*");
        await Assert.That(keys.Count).IsGreaterThanOrEqualTo(7);
        foreach (var key in keys)
        {
            byte[] value = (await db.StringGetAsync(key))!;
            value[^1] ^= 0x01;   // one bit of the payload: only the checksum can tell
            await db.StringSetAsync(key, value);
        }

        var second = await Complete(clientB, prompt, maxTokens: 12);
        await Assert.That(second.Text).IsEqualTo(first.Text);
        await Assert.That(second.Cached).IsEqualTo(0);
        string metrics = await clientB.GetStringAsync("/metrics");
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_rejects_total")).IsEqualTo(1);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_hits_total")).IsEqualTo(0);
        await Assert.That(TierTokens(metrics, "remote")).IsEqualTo(0);
    }

    [Test]
    public async Task A_replica_of_other_weights_never_gets_the_blocks()
    {
        await redis.FlushAsync();
        await using var a = await Replica("replica-a");
        await using var c = await Replica("replica-int4", model: TestModels.TinyInt4);   // same shapes and tokenizer, other weights
        await Connected(a);
        await Connected(c);
        await Assert.That(c.Engine.Cache!.Fingerprint).IsNotEqualTo(a.Engine.Cache!.Fingerprint);
        using var clientA = ServerFixture.CreateClient(a);
        using var clientC = ServerFixture.CreateClient(c);
        var prompt = Prompt(seed: 14, length: 120);
        await Complete(clientA, prompt, maxTokens: 4);
        Flushed(a);
        var other = await Complete(clientC, prompt, maxTokens: 4);
        await Assert.That(other.Cached).IsEqualTo(0);
        string metrics = await clientC.GetStringAsync("/metrics");
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_gets_total")).IsGreaterThanOrEqualTo(7);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_hits_total")).IsEqualTo(0);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_misses_total")).IsEqualTo(1);
    }

    [Test]
    public async Task A_replica_whose_redis_is_unreachable_from_the_start_starts_and_serves()
    {
        var closed = new Engine.Cache.Remote.RedisEndpoint("127.0.0.1", new RedisServer().Port, null, 0);
        var started = DateTime.UtcNow;
        await using var server = await Replica("replica-alone", closed);
        using var client = ServerFixture.CreateClient(server);
        var prompt = Prompt(seed: 13, length: 100);
        var first = await Complete(client, prompt, maxTokens: 8);
        var again = await Complete(client, prompt, maxTokens: 8);
        await Assert.That(again.Text).IsEqualTo(first.Text);
        await Assert.That(again.Cached).IsGreaterThanOrEqualTo(96);   // its own pool still works
        await Assert.That(DateTime.UtcNow - started).IsLessThan(TimeSpan.FromSeconds(20));
        string metrics = await client.GetStringAsync("/metrics");
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_connected")).IsEqualTo(0);
        await Assert.That(Metric(metrics, "onnxlm:remote_kv_hits_total")).IsEqualTo(0);
    }

    public void Dispose()
    {
        try { Directory.Delete(kvDir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
