using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>
/// The PrefixCache hooks with a real model: blocks evicted from the RAM pool are spilled to the tier, survive a tier
/// restart, and adopted back into the pool they restore exactly the KV prefill wrote.
/// </summary>
public class SsdPrefixCacheHookTests
{
    [Test]
    [Arguments(0)]
    [Arguments(8)]
    public async Task Evicted_blocks_spill_to_disk_and_adopted_back_restore_identical_kv(int kvBits)
    {
        string model = TestModels.TinyFp32;
        long blockBytes;
        using (var probe = EngineDriver.Start(model, maxBatchSize: 1, kvBits: kvBits)) blockBytes = probe.Cache!.Layout.BlockBytes;
        // Two blocks of pool: the second prompt evicts the first prompt's blocks.
        using var engine = EngineDriver.Start(model, maxBatchSize: 1, blockSize: 16, kvCacheMemory: blockBytes * 2, kvBits: kvBits);
        var cache = engine.Cache!;
        using var t = new SsdTestBlocks(cache.Layout, cache.Fingerprint);
        var prompt = EngineDriver.RandomPrompt(41, 40);   // (40 - 1) / 16 = 2 whole blocks
        var tier = t.Open();
        cache.Spill = (h, p, tokens, bytes) => tier.TryEnqueueWrite(h, p, tokens, bytes);

        await Assert.That((await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 1))).Error).IsNull();
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        // The pool's own restore of the prompt: the reference for what the SSD path must reproduce.
        await Assert.That(engine.RestoreForTest(prompt, 0)).IsEqualTo(32);
        var reference = engine.SnapshotRow(0, 32);

        await Assert.That((await EngineDriver.RunAsync(engine, EngineDriver.Greedy(EngineDriver.RandomPrompt(42, 40), 1))).Error).IsNull();
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        await Assert.That(cache.Evictions).IsGreaterThanOrEqualTo(2);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        await Assert.That(tier.BlocksWritten).IsGreaterThanOrEqualTo(2);
        tier.Dispose();

        using var restarted = t.Open();
        await restarted.Ready;
        // Engine idle: this test thread may use the pool as the engine thread would.
        var held = new List<int>();
        int ram = cache.Lookup(prompt, 2, held);
        await Assert.That(ram).IsEqualTo(0);
        var hashes = new UInt128[2];
        int found = restarted.LookupChain(prompt, 0, default, 2, hashes);
        await Assert.That(found).IsEqualTo(2);
        var staging = new byte[2 * blockBytes];
        await Assert.That(await restarted.ReadChainAsync(prompt, 0, default, hashes, staging)).IsEqualTo(2);
        for (int j = 0; j < 2; j++) await Assert.That(Adopt(cache, hashes[j], prompt, j, held, staging)).IsEqualTo(blockBytes);
        cache.Restore(0, held, 2);
        cache.ReleaseAll(held);
        await Assert.That(cache.CheckInvariants()).IsNull();
        await Assert.That(engine.SnapshotRow(0, 32).AsSpan().SequenceEqual(reference)).IsTrue();
        // Adopted blocks are ordinary pool blocks now: a lookup finds them, a second adopt takes the cached one.
        await Assert.That(cache.Lookup(prompt, 2, held)).IsEqualTo(2);
        cache.ReleaseAll(held);
        await Assert.That(Adopt(cache, hashes[0], prompt, 0, held, staging)).IsEqualTo(0L);
        // A hash that is not the chain hash of the tokens after the held chain is refused.
        await Assert.That(Adopt(cache, hashes[0], prompt, 0, held, staging)).IsEqualTo(-1L);
        cache.ReleaseAll(held);
        await Assert.That(cache.CheckInvariants()).IsNull();
    }

    /// <summary>What the engine does per restored block: adopt, then copy the staged bytes. Returns the bytes copied, -1 when refused.</summary>
    static long Adopt(PrefixCache cache, UInt128 hash, int[] prompt, int j, List<int> held, byte[] staging)
    {
        int bs = cache.BlockSize, bytes = (int)cache.Layout.BlockBytes;
        if (!cache.TryAdopt(hash, prompt.AsSpan(j * bs, bs), held, out var destination)) return -1;
        staging.AsSpan(j * bytes, destination.Length).CopyTo(destination);
        return destination.Length;
    }
}
