using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Model;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// The prefix cache's engine-thread work on real block sizes (<see cref="KvShapeModel"/>: 393 KB per fp32 block, 99 KB
/// int8), with the slot row filled with random KV:
/// <list type="bullet">
/// <item><c>Lookup_2048_tokens</c>: a 2,048-token prompt fully cached (128 blocks) in a warm pool: hash chain, index
/// probes, token verification, references taken and dropped. Per lookup.</item>
/// <item><c>Restore_block</c>: one block copied (fp32) or dequantized (int8) into the slot row. Per block.</item>
/// <item><c>Commit_block</c>: one new block copied or quantized out of the row, in a full pool, so every commit also
/// evicts the least recently used block. Per block.</item>
/// </list>
/// Expected allocation: 0 B for every case (the index and the pool are sized once; held lists are reused).
/// </summary>
[MemoryDiagnoser]
public unsafe class PrefixCacheBenchmarks
{
    const int BlockSize = 16;
    const int PromptBlocks = 128;

    [Params(32, 8)]
    public int Bits { get; set; }

    ModelRunner runner = null!;
    PrefixCache warm = null!;
    PrefixCache churn = null!;
    readonly List<int> held = new(PromptBlocks);
    int[] prompt = [];
    readonly int[] blockTokens = new int[BlockSize];
    int next;

    [GlobalSetup]
    public void Setup()
    {
        string dir = KvShapeModel.Directory();
        var contract = ModelContract.Inspect(dir);
        runner = new ModelRunner(contract, slots: 1, maxLen: 2048, maxPrefillTokens: BlockSize, threads: 1);
        FillRow(runner, contract);
        var fingerprint = ModelFingerprint.Compute(contract, BlockSize, Bits);
        var probe = new KvBlockLayout(contract.Config.NumLayers, contract.Config.NumKvHeads, contract.Config.HeadSize, BlockSize,
            contract.KvElementSize, Bits, 64);
        warm = new PrefixCache(runner, BlockSize, Bits, 64, probe.BlockBytes * (PromptBlocks + 8), fingerprint);
        churn = new PrefixCache(runner, BlockSize, Bits, 64, probe.BlockBytes * 8, fingerprint);

        var random = new Random(3);
        prompt = new int[PromptBlocks * BlockSize];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = random.Next(397);
        for (int j = 0; j < PromptBlocks; j++)
            if (!warm.Commit(0, j, prompt.AsSpan(j * BlockSize, BlockSize), held)) throw new InvalidOperationException("commit failed");
        warm.ReleaseAll(held);
        if (Lookup_2048_tokens() != PromptBlocks) throw new InvalidOperationException("the warm pool does not hold the prompt");
        for (int i = 0; i < 16; i++) Commit_block();   // fill the churn pool: from here on every commit evicts
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        warm.Dispose();
        churn.Dispose();
        runner.Dispose();
    }

    [Benchmark]
    public int Lookup_2048_tokens()
    {
        int found = warm.Lookup(prompt, PromptBlocks, held);
        warm.ReleaseAll(held);
        return found;
    }

    [Benchmark(OperationsPerInvoke = PromptBlocks)]
    public void Restore_block()
    {
        warm.Lookup(prompt, PromptBlocks, held);
        warm.Restore(0, held, PromptBlocks);
        warm.ReleaseAll(held);
    }

    [Benchmark]
    public bool Commit_block()
    {
        // A block nobody has seen: distinct tokens give a distinct chain hash.
        int n = ++next;
        for (int i = 0; i < BlockSize; i++) blockTokens[i] = (n + i * 7919) & 0x7fffffff;
        bool ok = churn.Commit(0, 0, blockTokens, held);
        churn.ReleaseAll(held);
        return ok;
    }

    static void FillRow(ModelRunner runner, ModelContract contract)
    {
        var random = new Random(11);
        var c = contract.Config;
        for (int layer = 0; layer < c.NumLayers; layer++)
            for (int kv = 0; kv < 2; kv++)
                for (int h = 0; h < c.NumKvHeads; h++)
                {
                    var bytes = runner.RowBytes(0, layer, kv == 1, h, runner.MaxLen);
                    if (contract.KvElementSize != 4) { random.NextBytes(bytes); continue; }
                    var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes);
                    for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 4 - 2);
                }
    }
}
