// Design: copying KV between a slot row and pool blocks for the benchmark model's layout (12 layers, 4 kv heads, head
// size 64, block 16, fp32; row MaxLen 2048): one block is 96 slabs of 4 KB, contiguous in the block and, per
// (layer, K|V, head), contiguous in the row. Restore copies 120 blocks (1,920 tokens, the ~2,000-token TTFT case,
// 45 MB, more than the L3) into a row; Commit copies them from a row into the pool. Results are per block.
// Variants: the cache's memcpy per slab, a per-position loop (what a layout-agnostic copy does), and two routines
// specialised for this slab shape (unrolled Vector512) and the engine's KvSlabCopy (Vector512 non-temporal stores).
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using OnnxLm.Engine.Cache;

namespace OnnxLm.Benchmarks.Cache;

[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory), CategoriesColumn]
public unsafe class KvBlockCopyBenchmarks
{
    public const int Blocks = 120;
    const int Layers = 12, KvHeads = 4, HeadSize = 64, BlockSize = 16, MaxLen = 2048;
    const int PositionBytes = HeadSize * sizeof(float);
    const int SlabBytes = BlockSize * PositionBytes;
    const int Slabs = Layers * 2 * KvHeads;
    const long BlockBytes = (long)SlabBytes * Slabs;
    const long HeadBytes = (long)MaxLen * PositionBytes;

    byte* pool;
    readonly byte*[] rowKv = new byte*[Layers * 2];

    [GlobalSetup]
    public void Setup()
    {
        pool = (byte*)NativeMemory.AlignedAlloc((nuint)(BlockBytes * Blocks), 64);
        for (long i = 0; i < BlockBytes * Blocks; i += 4) *(float*)(pool + i) = i;
        for (int i = 0; i < rowKv.Length; i++)
        {
            rowKv[i] = (byte*)NativeMemory.AlignedAlloc((nuint)(HeadBytes * KvHeads), 64);
            NativeMemory.Clear(rowKv[i], (nuint)(HeadBytes * KvHeads));
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(pool);
        foreach (var p in rowKv) NativeMemory.AlignedFree(p);
    }

    // Slab s of a block is (layer, K|V, head) in that order, as KvBlockLayout.SlabIndex.
    byte* RowSlab(int slab, int position) => rowKv[slab / KvHeads] + slab % KvHeads * HeadBytes + (long)position * PositionBytes;
    byte* BlockSlab(int block, int slab) => pool + block * BlockBytes + (long)slab * SlabBytes;

    [Benchmark(Baseline = true, OperationsPerInvoke = Blocks), BenchmarkCategory("Restore")]
    public void Restore_memcpy_per_slab()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                Buffer.MemoryCopy(BlockSlab(b, s), RowSlab(s, b * BlockSize), SlabBytes, SlabBytes);
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Restore")]
    public void Restore_per_position()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
            {
                byte* src = BlockSlab(b, s);
                for (int p = 0; p < BlockSize; p++)
                    Buffer.MemoryCopy(src + p * PositionBytes, RowSlab(s, b * BlockSize + p), PositionBytes, PositionBytes);
            }
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Restore")]
    public void Restore_vector512_unrolled()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                SlabCopy.Vector512Unrolled(BlockSlab(b, s), RowSlab(s, b * BlockSize));
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Restore")]
    public void Restore_streaming_KvSlabCopy()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                KvSlabCopy.Copy(BlockSlab(b, s), RowSlab(s, b * BlockSize), SlabBytes);
        KvSlabCopy.Fence();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Blocks), BenchmarkCategory("Commit")]
    public void Commit_memcpy_per_slab()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                Buffer.MemoryCopy(RowSlab(s, b * BlockSize), BlockSlab(b, s), SlabBytes, SlabBytes);
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Commit")]
    public void Commit_per_position()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
            {
                byte* dst = BlockSlab(b, s);
                for (int p = 0; p < BlockSize; p++)
                    Buffer.MemoryCopy(RowSlab(s, b * BlockSize + p), dst + p * PositionBytes, PositionBytes, PositionBytes);
            }
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Commit")]
    public void Commit_vector512_unrolled()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                SlabCopy.Vector512Unrolled(RowSlab(s, b * BlockSize), BlockSlab(b, s));
    }

    [Benchmark(OperationsPerInvoke = Blocks), BenchmarkCategory("Commit")]
    public void Commit_streaming_KvSlabCopy()
    {
        for (int b = 0; b < Blocks; b++)
            for (int s = 0; s < Slabs; s++)
                KvSlabCopy.Copy(RowSlab(s, b * BlockSize), BlockSlab(b, s), SlabBytes);
        KvSlabCopy.Fence();
    }
}
