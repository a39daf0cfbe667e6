using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cache;

/// <summary>Reference counts, budget and int8 storage of the block pool.</summary>
public class PrefixCacheBookkeepingTests
{
    [Test]
    public async Task Thousand_random_submit_cancel_finish_cycles_leak_no_block()
    {
        using var probe = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1);
        long blockBytes = probe.Cache!.Layout.BlockBytes;
        probe.Dispose();
        // A small pool (40 blocks) so eviction runs constantly; a few shared prefixes so blocks are shared and deduplicated.
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4, prefillStepSize: 24, maxQueue: 1024, kvCacheMemory: blockBytes * 40);
        var rng = new Random(2024);
        var prefixes = Enumerable.Range(0, 5).Select(i => EngineDriver.RandomPrompt(500 + i, 16 * (1 + i))).ToArray();
        var collectors = new List<Collector>();
        for (int i = 0; i < 1000; i++)
        {
            var prefix = prefixes[rng.Next(prefixes.Length)];
            var prompt = prefix.Concat(EngineDriver.RandomPrompt(2000 + i, 1 + rng.Next(20))).ToArray();
            var request = new GenerationRequest(prompt, new SamplingParams { Temperature = 1f, Seed = (ulong)i }, 1 + rng.Next(24));
            collectors.Add(EngineDriver.Submit(engine, request));
            switch (rng.Next(5))
            {
                case 0: engine.Cancel(request); break;
                case 1:
                    await Task.Delay(rng.Next(2));
                    engine.Cancel(request);
                    break;
            }
            if (i % 50 == 49) await Task.WhenAll(collectors.Select(c => c.Completion));
        }
        foreach (var c in collectors) await Assert.That((await c.Completion).Error).IsNull();
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        var cache = engine.Cache!;
        await Assert.That(cache.CheckInvariants()).IsNull();
        await Assert.That(cache.ReferencedBlocks()).IsEqualTo(0);
        await Assert.That(cache.BlocksUsed + cache.BlocksFree).IsEqualTo(40);
        await Assert.That(cache.MemoryBytes).IsLessThanOrEqualTo(blockBytes * 40 + 64);
        await Assert.That(cache.Evictions).IsGreaterThan(0);
        await Assert.That(engine.CachedPromptTokensTotal).IsGreaterThan(0);
    }

    [Test]
    public async Task Int8_round_trip_error_is_within_half_a_step_per_group()
    {
        var rng = new Random(7);
        const int n = 1024, group = 64;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-3, 3)));
        x[5] = 0f;
        var q = new sbyte[n];
        var scales = new float[n / group];
        new KvQuantizer(group, n).Quantize(x, q, scales);
        var back = new float[n];
        KvQuantizer.Dequantize(q, scales, back, group);
        for (int g = 0; g < n / group; g++)
        {
            float max = 0;
            for (int i = g * group; i < (g + 1) * group; i++) max = Math.Max(max, Math.Abs(x[i]));
            await Assert.That(scales[g]).IsEqualTo(max / 127f).Within(1e-9f);
            for (int i = g * group; i < (g + 1) * group; i++)
                await Assert.That(Math.Abs(back[i] - x[i])).IsLessThanOrEqualTo(scales[g] / 2 * 1.0001f + 1e-12f);
        }
        // All-zero groups stay exactly zero.
        var zeros = new float[group];
        var qz = new sbyte[group];
        var sz = new float[1];
        new KvQuantizer(group, group).Quantize(zeros, qz, sz);
        KvQuantizer.Dequantize(qz, sz, zeros, group);
        await Assert.That(zeros.All(v => v == 0f)).IsTrue();
    }

    [Test]
    [Arguments(32)]
    [Arguments(8)]
    public async Task Restored_blocks_equal_the_rows_they_were_copied_from(int bits)
    {
        // Lossless blocks restore bit-identical KV; int8 blocks within half a quantization step.
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2, kvBits: bits, blockSize: 16);
        var prompt = EngineDriver.RandomPrompt(300, 49);
        var first = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 1));
        await Assert.That(first.Error).IsNull();
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        var probeRow = engine.SnapshotRow(0, 48);
        // Copy the 3 blocks into row 1 through the cache and compare with row 0's KV.
        var restored = engine.RestoreForTest(prompt, 1);
        await Assert.That(restored).IsEqualTo(48);
        var copy = engine.SnapshotRow(1, 48);
        await Assert.That(copy.Length).IsEqualTo(probeRow.Length);
        double maxError = 0;
        for (int i = 0; i < copy.Length; i++) maxError = Math.Max(maxError, Math.Abs(copy[i] - probeRow[i]));
        if (bits == 32) await Assert.That(maxError).IsEqualTo(0d);
        else
        {
            double maxAbs = probeRow.Max(v => Math.Abs(v));
            await Assert.That(maxError).IsGreaterThan(0d);
            await Assert.That(maxError).IsLessThanOrEqualTo(maxAbs / 127 / 2 * 1.001);
        }
    }

    [Test]
    public async Task Int8_cache_mostly_agrees_with_lossless_greedy()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1, kvBits: 8);
        int agree = 0, total = 0;
        for (int i = 0; i < 6; i++)
        {
            var prompt = EngineDriver.RandomPrompt(400 + i, 64);
            await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 1));
            await EngineDriver.RunAsync(engine, EngineDriver.Greedy(EngineDriver.RandomPrompt(450 + i, 20), 1));   // clear the row
            var warm = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy, 16, ignoreEos: true));
            await Assert.That(warm.CachedTokens).IsEqualTo(48);
            var expected = Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 16);
            for (int k = 0; k < expected.Length; k++, total++) if (warm.Tokens[k] == expected[k]) agree++;
        }
        // Lossy by design; a broken dequantizer agrees on almost nothing with a 400-token vocabulary.
        await Assert.That(agree).IsGreaterThanOrEqualTo(total * 3 / 4);
    }

    [Test]
    public async Task Kv_bits_other_than_int8_or_the_models_width_are_refused()
    {
        await Assert.That(() => EngineDriver.Start(TestModels.TinyFp32, kvBits: 16)).Throws<ArgumentException>();
    }
}
