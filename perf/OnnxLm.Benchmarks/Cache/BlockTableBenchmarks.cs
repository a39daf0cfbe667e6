// Design: the prefix cache's block bookkeeping under a realistic load, per request (OperationsPerInvoke). 12,288 blocks of
// 16 tokens; 600 documents of 8..96 blocks (half share a prefix with an earlier one), 4,096 requests skewed toward hot
// documents, 8 in flight (a request's blocks are released when the request 8 places later starts). Each request looks up
// its chain (Dictionary + parent and token verification), references the hits, commits the misses (evicting the least
// recently used leaf when the table is full) and later releases them last block first. Variants: the generated
// struct-of-arrays BlockTable (the engine's), the hand-written array version it replaced, and an object per block with a
// LinkedList LRU, allocating as typical code does or pooled. The table state carries over between invocations (steady
// state: the table is full and every commit evicts).
using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Cache;

namespace OnnxLm.Benchmarks.Cache;

[MemoryDiagnoser]
public class BlockTableBenchmarks
{
    public const int Requests = 4096;
    const int Capacity = 12_288;
    const int InFlight = 8;
    const int BlockSize = BlockTableWorkload.BlockSize;

    BlockTableWorkload workload = null!;
    BlockTable generated = null!;
    Dictionary<UInt128, int> generatedIndex = null!;
    ArrayBlockTable arrays = null!;
    Dictionary<UInt128, int> arraysIndex = null!;
    ObjectBlockTable objects = null!;
    ObjectBlockTable pooledObjects = null!;
    List<int>[] heldIds = null!, heldArrayIds = null!;
    List<ObjectBlock>[] heldObjects = null!, heldPooledObjects = null!;

    [GlobalSetup]
    public void Setup()
    {
        workload = new BlockTableWorkload(documents: 600, Requests, seed: 11);
        generated = new BlockTable(Capacity, BlockSize);
        generatedIndex = new Dictionary<UInt128, int>(Capacity);
        arrays = new ArrayBlockTable(Capacity, BlockSize);
        arraysIndex = new Dictionary<UInt128, int>(Capacity);
        objects = new ObjectBlockTable(Capacity, BlockSize, pooled: false);
        pooledObjects = new ObjectBlockTable(Capacity, BlockSize, pooled: true);
        heldIds = NewHeld<int>();
        heldArrayIds = NewHeld<int>();
        heldObjects = NewHeld<ObjectBlock>();
        heldPooledObjects = NewHeld<ObjectBlock>();
    }

    static List<T>[] NewHeld<T>()
    {
        var held = new List<T>[InFlight];
        for (int i = 0; i < held.Length; i++) held[i] = new List<T>(128);
        return held;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Requests)]
    public int Generated_struct_of_arrays()
    {
        var table = generated;
        var index = generatedIndex;
        int hits = 0;
        for (int r = 0; r < workload.Requests.Length; r++)
        {
            var held = heldIds[r % InFlight];
            for (int i = held.Count - 1; i >= 0; i--) table.Release(held[i]);
            held.Clear();
            var (doc, blocks) = workload.Requests[r];
            int[] tokens = workload.Tokens[doc];
            UInt128[] hashes = workload.Hashes[doc];
            int parent = BlockTable.None, j = 0;
            for (; j < blocks; j++)
            {
                var blockTokens = tokens.AsSpan(j * BlockSize, BlockSize);
                if (!index.TryGetValue(hashes[j], out int b) || table.Parent[b] != parent || !table.TokensOf(b).SequenceEqual(blockTokens)) break;
                table.Acquire(b);
                held.Add(b);
                parent = b;
                hits++;
            }
            for (; j < blocks; j++)
            {
                if (!table.TryTakeFree(out int b))
                {
                    int victim = table.FindEvictable();
                    if (victim == BlockTable.None) break;
                    table.RemoveFromLru(victim);
                    index.Remove(table.Hash[victim]);
                    if (table.Parent[victim] != BlockTable.None) table.Children[table.Parent[victim]]--;
                    table.ReturnFree(victim);
                    table.TryTakeFree(out b);
                }
                table.Hash[b] = hashes[j];
                table.Parent[b] = parent;
                tokens.AsSpan(j * BlockSize, BlockSize).CopyTo(table.TokensOf(b));
                if (parent != BlockTable.None) table.Children[parent]++;
                index[hashes[j]] = b;
                table.Acquire(b);
                held.Add(b);
                parent = b;
            }
        }
        return hits;
    }

    [Benchmark(OperationsPerInvoke = Requests)]
    public int Handwritten_arrays()
    {
        var table = arrays;
        var index = arraysIndex;
        int hits = 0;
        for (int r = 0; r < workload.Requests.Length; r++)
        {
            var held = heldArrayIds[r % InFlight];
            for (int i = held.Count - 1; i >= 0; i--) table.Release(held[i]);
            held.Clear();
            var (doc, blocks) = workload.Requests[r];
            int[] tokens = workload.Tokens[doc];
            UInt128[] hashes = workload.Hashes[doc];
            int parent = ArrayBlockTable.None, j = 0;
            for (; j < blocks; j++)
            {
                var blockTokens = tokens.AsSpan(j * BlockSize, BlockSize);
                if (!index.TryGetValue(hashes[j], out int b) || table.Parent[b] != parent || !table.TokensOf(b).SequenceEqual(blockTokens)) break;
                table.Acquire(b);
                held.Add(b);
                parent = b;
                hits++;
            }
            for (; j < blocks; j++)
            {
                if (!table.TryTakeFree(out int b))
                {
                    int victim = table.FindEvictable();
                    if (victim == ArrayBlockTable.None) break;
                    table.RemoveFromLru(victim);
                    index.Remove(table.Hash[victim]);
                    if (table.Parent[victim] != ArrayBlockTable.None) table.Children[table.Parent[victim]]--;
                    table.ReturnFree(victim);
                    table.TryTakeFree(out b);
                }
                table.Hash[b] = hashes[j];
                table.Parent[b] = parent;
                tokens.AsSpan(j * BlockSize, BlockSize).CopyTo(table.TokensOf(b));
                if (parent != ArrayBlockTable.None) table.Children[parent]++;
                index[hashes[j]] = b;
                table.Acquire(b);
                held.Add(b);
                parent = b;
            }
        }
        return hits;
    }

    [Benchmark(OperationsPerInvoke = Requests)]
    public int Object_per_block() => RunObjects(objects, heldObjects);

    [Benchmark(OperationsPerInvoke = Requests)]
    public int Object_per_block_pooled() => RunObjects(pooledObjects, heldPooledObjects);

    int RunObjects(ObjectBlockTable table, List<ObjectBlock>[] heldByRequest)
    {
        var index = table.Index;
        int hits = 0;
        for (int r = 0; r < workload.Requests.Length; r++)
        {
            var held = heldByRequest[r % InFlight];
            for (int i = held.Count - 1; i >= 0; i--) table.Release(held[i]);
            held.Clear();
            var (doc, blocks) = workload.Requests[r];
            int[] tokens = workload.Tokens[doc];
            UInt128[] hashes = workload.Hashes[doc];
            ObjectBlock? parent = null;
            int j = 0;
            for (; j < blocks; j++)
            {
                var blockTokens = tokens.AsSpan(j * BlockSize, BlockSize);
                if (!index.TryGetValue(hashes[j], out var b) || b.Parent != parent || !b.Tokens.AsSpan().SequenceEqual(blockTokens)) break;
                table.Acquire(b);
                held.Add(b);
                parent = b;
                hits++;
            }
            for (; j < blocks; j++)
            {
                var b = table.TryAllocate();
                if (b is null) break;
                b.Hash = hashes[j];
                b.Parent = parent;
                tokens.AsSpan(j * BlockSize, BlockSize).CopyTo(b.Tokens);
                if (parent is not null) parent.Children++;
                index[hashes[j]] = b;
                table.Acquire(b);
                held.Add(b);
                parent = b;
            }
        }
        return hits;
    }
}
