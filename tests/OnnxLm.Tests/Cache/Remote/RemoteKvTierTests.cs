using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Remote;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Tests.Cache.Ssd;
using OnnxLm.Tests.ScaleOut;
using StackExchange.Redis;

namespace OnnxLm.Tests.Cache.Remote;

/// <summary>
/// The remote tier against a real <c>redis-server</c>: values are exactly SSD block files, written once (SET NX with a
/// TTL) and verified on read; a lookup stops at the first miss or bad value; another fingerprint's blocks are never
/// served; a full queue drops its oldest block; a hung server ends a lookup at its deadline; a killed server opens the
/// breaker, and after a restart a probe closes it and the client has reconnected by itself.
/// </summary>
[ClassDataSource<RedisServer>(Shared = SharedType.PerClass)]
[NotInParallel(nameof(RemoteKvTierTests))]
public sealed class RemoteKvTierTests(RedisServer redis)
{
    static RemoteKvTier Open(SsdTestBlocks t, RedisEndpoint endpoint, int queueDepth = 64) => new(new RemoteKvOptions
    {
        Endpoint = endpoint,
        Fingerprint = t.Fingerprint,
        Layout = t.Layout,
        AlwaysFetch = true,
        WriteQueueDepth = queueDepth,
        LookupDeadline = TimeSpan.FromMilliseconds(300),
        BreakerOpenFor = TimeSpan.FromMilliseconds(200),
        CommandTimeout = TimeSpan.FromMilliseconds(500),
        KeysPerRequest = 2,
    });

    static Task Until(Func<bool> condition, string what, int seconds = 15) => Until(() => Task.FromResult(condition()), what, seconds);

    static async Task Until(Func<Task<bool>> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {seconds} s: {what}");
            await Task.Delay(10);
        }
    }

    static async Task<RemoteKvTier> Connected(SsdTestBlocks t, RedisEndpoint endpoint, int queueDepth = 64)
    {
        var tier = Open(t, endpoint, queueDepth);
        await Until(() => tier.Connected, "connected");
        return tier;
    }

    static void WriteAll(RemoteKvTier tier, SsdTestBlocks.Chain chain, params int[] skip)
    {
        for (int j = 0; j < chain.Count; j++)
            if (!skip.Contains(j)) tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
        if (!tier.WaitForWrites(TimeSpan.FromSeconds(10))) throw new TimeoutException("writes did not finish");
    }

    static async Task<(int Count, byte[] Staging)> Fetch(RemoteKvTier tier, SsdTestBlocks t, SsdTestBlocks.Chain chain)
    {
        var staging = new byte[chain.Count * t.Layout.BlockBytes];
        int n = await tier.FetchChainAsync(chain.Tokens, 0, default, new UInt128[chain.Count], staging);
        return (n, staging);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task A_block_written_by_one_replica_is_fetched_by_another_and_is_the_ssd_file_byte_for_byte(bool int8)
    {
        await redis.FlushAsync();
        using var t = new SsdTestBlocks(int8 ? SsdTestBlocks.SmallInt8 : SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 1, count: 5);
        using (var writer = await Connected(t, redis.Endpoint)) WriteAll(writer, chain);
        using var reader = await Connected(t, redis.Endpoint);
        var (n, staging) = await Fetch(reader, t, chain);
        await Assert.That(n).IsEqualTo(5);
        await Assert.That(reader.Hits).IsEqualTo(5);
        for (int j = 0; j < 5; j++)
            await Assert.That(staging.AsSpan(j * (int)t.Layout.BlockBytes, (int)t.Layout.BlockBytes).SequenceEqual(chain.Bytes[j])).IsTrue().Because($"block {j}");

        // The value is exactly the SSD tier's file for the same block, and it expires.
        using (var ssd = t.Open())
        {
            chain.EnqueueAll(ssd);
            await Assert.That(ssd.WaitForWrites(TimeSpan.FromSeconds(10))).IsTrue();
            var db = await redis.DatabaseAsync();
            for (int j = 0; j < 5; j++)
            {
                byte[] value = (await db.StringGetAsync(reader.Key(chain.Hashes[j])))!;
                byte[] file = await File.ReadAllBytesAsync(ssd.BlockPath(chain.Hashes[j], chain.Parent(j)));
                await Assert.That(value.AsSpan().SequenceEqual(file)).IsTrue().Because($"block {j}");
                var ttl = await db.KeyTimeToLiveAsync(reader.Key(chain.Hashes[j]));
                await Assert.That(ttl).IsNotNull();
                await Assert.That(ttl!.Value).IsGreaterThan(TimeSpan.FromHours(23));
            }
        }
    }

    [Test]
    public async Task A_lookup_stops_at_the_first_miss_and_a_second_writer_does_not_overwrite()
    {
        await redis.FlushAsync();
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 2, count: 6);
        using var tier = await Connected(t, redis.Endpoint);
        WriteAll(tier, chain, skip: 3);
        await Assert.That(tier.BlocksWritten).IsEqualTo(5);
        var (n, _) = await Fetch(tier, t, chain);
        await Assert.That(n).IsEqualTo(3);
        await Assert.That(tier.Misses).IsEqualTo(1);

        // SET NX: the same block from another replica (here: other bytes under the same key) leaves the first value.
        var db = await redis.DatabaseAsync();
        byte[] before = (await db.StringGetAsync(tier.Key(chain.Hashes[0])))!;
        tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, new byte[chain.Bytes[0].Length]);
        await Assert.That(tier.WaitForWrites(TimeSpan.FromSeconds(10))).IsTrue();
        await Assert.That(tier.BlocksExisting).IsEqualTo(1);
        await Assert.That(((byte[])(await db.StringGetAsync(tier.Key(chain.Hashes[0])))!).AsSpan().SequenceEqual(before)).IsTrue();
    }

    [Test]
    [Arguments("payload")]
    [Arguments("tokens")]
    [Arguments("truncated")]
    public async Task A_corrupted_value_is_rejected_deleted_and_never_served(string damage)
    {
        await redis.FlushAsync();
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 3, count: 4);
        using var tier = await Connected(t, redis.Endpoint);
        WriteAll(tier, chain);
        var db = await redis.DatabaseAsync();
        string key = tier.Key(chain.Hashes[2]);
        byte[] value = (await db.StringGetAsync(key))!;
        switch (damage)
        {
            case "payload": value[^7] ^= 0x10; break;
            case "truncated": value = value[..^1]; break;
            default:
                // The header's first token, one digit changed: the checksum still matches, the tokens do not.
                int at = System.Text.Encoding.ASCII.GetString(value).IndexOf("\"tokens\":\"", StringComparison.Ordinal) + 10;
                value[at] = (byte)(value[at] == (byte)'1' ? '2' : '1');
                break;
        }
        await db.StringSetAsync(key, value);

        var (n, staging) = await Fetch(tier, t, chain);
        await Assert.That(n).IsEqualTo(2);
        await Assert.That(tier.Rejects).IsEqualTo(1);
        await Assert.That(staging.AsSpan(2 * (int)t.Layout.BlockBytes).ContainsAnyExcept((byte)0)).IsFalse().Because("nothing of the bad block is copied");
        await Until(() => !db.KeyExists(key), "the bad value is deleted", 5);
    }

    [Test]
    public async Task A_block_written_under_another_fingerprint_is_never_served()
    {
        await redis.FlushAsync();
        using var mine = new SsdTestBlocks(SsdTestBlocks.SmallFp32, new UInt128(1, 1));
        using var other = new SsdTestBlocks(SsdTestBlocks.SmallFp32, new UInt128(2, 2));
        var theirs = other.MakeChain(seed: 4, count: 3);
        using (var writer = await Connected(other, redis.Endpoint)) WriteAll(writer, theirs);

        using var tier = await Connected(mine, redis.Endpoint);
        // Same tokens under my fingerprint: other keys, so misses.
        var ours = mine.MakeChain(seed: 4, count: 3);
        await Assert.That(ours.Tokens.SequenceEqual(theirs.Tokens)).IsTrue();
        var (n, _) = await Fetch(tier, mine, ours);
        await Assert.That(n).IsEqualTo(0);
        await Assert.That(tier.Misses).IsEqualTo(1);

        // A value of the other model placed under my exact key, with my hash, parent and tokens: only the fingerprint
        // differs, and that alone rejects it.
        using var foreign = new KvBlockCodec(mine.Layout, other.Fingerprint);
        var db = await redis.DatabaseAsync();
        await db.StringSetAsync(tier.Key(ours.Hashes[0]), foreign.Encode(ours.Hashes[0], default, ours.TokensOf(0).Span, theirs.Bytes[0]));
        (n, _) = await Fetch(tier, mine, ours);
        await Assert.That(n).IsEqualTo(0);
        await Assert.That(tier.Rejects).IsEqualTo(1);
        await Assert.That(tier.Hits).IsEqualTo(0);
    }

    [Test]
    public async Task A_hung_server_ends_lookups_at_their_deadline_and_a_full_queue_drops_its_oldest_block()
    {
        await redis.FlushAsync();
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 5, count: 12);
        using var tier = await Connected(t, redis.Endpoint, queueDepth: 2);
        await redis.Pause();
        try
        {
            var started = DateTime.UtcNow;
            var (n, _) = await Fetch(tier, t, chain);
            await Assert.That(n).IsEqualTo(0);
            await Assert.That(tier.Late).IsEqualTo(1);
            await Assert.That(DateTime.UtcNow - started).IsLessThan(TimeSpan.FromSeconds(1));
            // The writer is stuck on its first SET: the 2-entry queue keeps the newest blocks and drops the others.
            for (int j = 0; j < chain.Count; j++) tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
            await Assert.That(tier.WritesDropped).IsGreaterThanOrEqualTo(chain.Count - 3);
        }
        finally
        {
            await redis.Resume();
        }
        await Assert.That(tier.WaitForWrites(TimeSpan.FromSeconds(10))).IsTrue();
        var db = await redis.DatabaseAsync();
        await Until(() => db.KeyExists(tier.Key(chain.Hashes[^1])), "the newest block is written", 5);
    }

    [Test]
    public async Task A_killed_server_opens_the_breaker_and_after_a_restart_a_probe_closes_it()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 6, count: 3);
        using var tier = await Connected(t, redis.Endpoint);
        await redis.FlushAsync();
        WriteAll(tier, chain);
        await redis.Kill();
        for (int i = 0; i < 5; i++)
        {
            var started = DateTime.UtcNow;
            await Assert.That((await Fetch(tier, t, chain)).Count).IsEqualTo(0);
            await Assert.That(DateTime.UtcNow - started).IsLessThan(TimeSpan.FromSeconds(1));
        }
        await Assert.That(tier.Breaker.Opened).IsGreaterThanOrEqualTo(1);
        await Assert.That(tier.Errors).IsGreaterThanOrEqualTo(3);
        await Assert.That(tier.Skipped).IsGreaterThanOrEqualTo(1);

        await redis.StartAsync();   // empty: no persistence
        await Until(() => tier.Connected, "reconnected by itself");
        // With no lookups at all, a write after the cool-down is the probe that closes the breaker.
        await Until(() =>
        {
            tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0]);
            return tier.Breaker.State == BreakerState.Closed;
        }, "a write closed the breaker");
        await Until(async () =>
        {
            WriteAll(tier, chain);
            return (await Fetch(tier, t, chain)).Count == 3;
        }, "fetching again");
        await Assert.That(tier.Breaker.State).IsEqualTo(BreakerState.Closed);
        await Assert.That(tier.Breaker.Closed).IsGreaterThanOrEqualTo(1);
    }

    [Test]
    public async Task An_unreachable_server_from_the_start_costs_nothing_and_throws_nothing()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 7, count: 3);
        var closed = new RedisEndpoint("127.0.0.1", new RedisServer().Port, null, 0);
        using var tier = Open(t, closed);
        var started = DateTime.UtcNow;
        for (int i = 0; i < 5; i++)
        {
            await Assert.That((await Fetch(tier, t, chain)).Count).IsEqualTo(0);
            tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0]);
        }
        await Assert.That(DateTime.UtcNow - started).IsLessThan(TimeSpan.FromSeconds(3));
        await Assert.That(tier.Hits).IsEqualTo(0);
        await Assert.That(tier.Connected).IsFalse();
    }
}
