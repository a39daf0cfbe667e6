using System.Globalization;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Memory;

/// <summary>
/// A model configured for 131,072 tokens per sequence and 8 slots reserves 512 MiB of KV rows, but costs memory only
/// for the tokens in use: the KV pages actually resident (mincore over the rows) and the process's resident set (VmRSS)
/// stay far below what the full context needs, after loading (huge-page collapsing included) and after requests
/// (prefill, batched decode, row compaction and prefix-cache commits). Deterministic memory assertions, no timing.
/// </summary>
public class LongContextResidencyTests
{
    [Test, NotInParallel]   // alone: VmRSS is process-wide
    public async Task A_131072_token_context_costs_memory_for_the_tokens_in_use()
    {
        if (!OperatingSystem.IsLinux()) return;   // VmRSS and mincore
        string dir = TestModels.Get(MemoryPlanTests.LongContextTiny);
        long before = Rss();
        using var engine = InferenceEngine.Start(new EngineOptions
        {
            ModelDirectory = dir,
            MaxBatchSize = 8,
            MemoryBudget = 8L << 30,
            KvCacheMemory = EngineDriver.TestCacheMemory,
            SsdCache = false,
            Threads = 1,
        });
        while (!engine.IsReady) await Task.Delay(5);
        await Assert.That(engine.ContextLength).IsEqualTo(131072);
        long reserved = engine.Runner.KvBytes;
        await Assert.That(reserved).IsEqualTo(8L * 131072 * engine.Memory.KvBytesPerToken);   // 512 MiB
        long loaded = Rss();
        long residentLoaded = engine.Runner.ResidentKvBytes();

        // Four sequences of 200 + 100 tokens, decoding together (rows join, leave and are compacted).
        var runs = Enumerable.Range(0, 4).Select(i => EngineDriver.RunAsync(engine,
            new GenerationRequest(EngineDriver.RandomPrompt(100 + i, 200), SamplingParams.Greedy, 100 - 10 * i, ignoreEos: true))).ToArray();
        foreach (var r in await Task.WhenAll(runs)) await Assert.That(r.Error).IsNull();
        long after = Rss();
        long resident = engine.Runner.ResidentKvBytes();

        string numbers = string.Create(CultureInfo.InvariantCulture,
            $"KV reserved {reserved >> 20} MiB; KV resident after load {residentLoaded >> 10} KiB, after requests {resident >> 10} KiB; VmRSS {before >> 20} → {loaded >> 20} → {after >> 20} MiB");
        Console.WriteLine(numbers);
        // The tokens in use: ≤ 4 rows × 300 positions; per (row, layer, K|V, kv head) that is ⌈300 × 64 B / 4 KiB⌉ = 5 pages.
        long perSlab = (300 * 16 * 4 + 4095) / 4096 * 4096 + 4096;   // + one page of misalignment
        long needed = 5 /* rows ever used */ * 2 /* layers */ * 2 /* K, V */ * 2 /* kv heads */ * perSlab;
        await Assert.That(resident).IsGreaterThan(0).Because(numbers);
        await Assert.That(resident).IsLessThanOrEqualTo(needed).Because(numbers);
        await Assert.That(resident * 100).IsLessThan(reserved).Because(numbers);
        // The whole process grew by far less than the KV rows it reserved (which alone are 512 MiB).
        await Assert.That(after - before).IsLessThan(reserved / 3).Because(numbers);
        // Decode steps sum a mask just wide enough for the rows (≤ 300 positions), not 131,072.
        await Assert.That(engine.Runner.DecodeMaskWidth).IsEqualTo(512);
    }

    [Test]
    public async Task The_decode_mask_widths_double_from_256_up_to_the_context()
    {
        await Assert.That(OnnxLm.Engine.Model.ModelRunner.MaskWidths(131072)).IsEquivalentTo(new[] { 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072 });
        await Assert.That(OnnxLm.Engine.Model.ModelRunner.MaskWidths(3000)).IsEquivalentTo(new[] { 256, 512, 1024, 2048, 3000 });
        await Assert.That(OnnxLm.Engine.Model.ModelRunner.MaskWidths(200)).IsEquivalentTo(new[] { 200 });
    }

    static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmRSS in /proc/self/status");
    }
}
