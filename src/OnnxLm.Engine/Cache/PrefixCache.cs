namespace OnnxLm.Engine.Cache;

/// <summary>
/// Block-level prefix KV cache (engine thread only). Full blocks of <see cref="BlockSize"/> tokens are copied out of slot
/// rows into a fixed pool allocated once from the memory budget, and indexed by a hash chain
/// h_i = XxHash128(h_{i-1}, tokens of block i, model fingerprint). A hit is verified against the stored tokens and the
/// parent block, so a hash collision is a miss, never wrong KV. Blocks are reference-counted by the sequences whose
/// prefix they hold; unreferenced blocks sit on an LRU list and the least recently used leaf is evicted first.
/// Because KV lives in slot rows, a full pool never blocks a request: the cache just stops committing until blocks free up.
/// </summary>
public sealed unsafe class PrefixCache : IDisposable
{
    internal delegate UInt128 BlockHasher(UInt128 parent, ReadOnlySpan<int> tokens);

    /// <summary>A block about to leave the pool: its chain identity and its bytes (valid only during the call).</summary>
    public delegate void BlockSpill(UInt128 hash, UInt128 parentHash, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> bytes);

    readonly ISlotRowMemory rows;
    readonly BlockTable table;
    readonly Dictionary<UInt128, int> index;
    readonly NativeBuffer memory;
    readonly KvQuantizer? quantizer;
    readonly float[] convert;
    readonly UInt128 fingerprint;

    public KvBlockLayout Layout { get; }
    public int BlockSize => Layout.BlockSize;
    public int Capacity => table.Capacity;
    public int BlocksUsed => table.CachedCount;
    public int BlocksFree => table.FreeCount;
    public long Queries { get; private set; }
    public long QueriedTokens { get; private set; }
    public long HitTokens { get; private set; }
    public long Evictions { get; private set; }

    /// <summary>Test hook: replaces the chain hash (e.g. with a constant to force collisions).</summary>
    internal BlockHasher? HashOverride { get; set; }

    /// <summary>The model fingerprint every chain hash includes (<see cref="Model.ModelFingerprint"/>).</summary>
    public UInt128 Fingerprint => fingerprint;

    public PrefixCache(ISlotRowMemory rows, int blockSize, int bits, int groupSize, long budgetBytes, UInt128 fingerprint)
    {
        int elementSize = rows.KvElementSize;
        if (bits != 8 && bits != elementSize * 8)
            throw new ArgumentException($"--kv-bits must be 8 (int8) or {elementSize * 8} (the model's own {rows.KvElementName} KV, lossless); got {bits}");
        Layout = new KvBlockLayout(rows.Layers, rows.KvHeads, rows.HeadSize, blockSize, elementSize, bits, groupSize);
        long capacity = budgetBytes / Layout.BlockBytes;
        if (capacity < 1)
            throw new ArgumentException($"--kv-cache-memory {budgetBytes} bytes is less than one block ({Layout.BlockBytes} bytes)");
        capacity = Math.Min(capacity, int.MaxValue / Math.Max(blockSize, 1) / 2);
        this.rows = rows;
        this.fingerprint = fingerprint;
        table = new BlockTable((int)capacity, blockSize);
        index = new Dictionary<UInt128, int>((int)capacity);
        memory = new NativeBuffer(Layout.BlockBytes * capacity, zero: false);
        quantizer = Layout.Quantized ? new KvQuantizer(groupSize, Layout.SlabValues) : null;
        convert = Layout.Quantized ? new float[Layout.SlabValues] : [];
    }

    public long MemoryBytes => memory.Bytes;

    byte* BlockPointer(int block) => (byte*)memory.Pointer + block * Layout.BlockBytes;

    /// <summary>Memory of one block (the SSD tier writes and reads blocks through this).</summary>
    public Span<byte> BlockBytes(int block) => new(BlockPointer(block), (int)Layout.BlockBytes);

    UInt128 Chain(UInt128 parent, ReadOnlySpan<int> tokens) =>
        HashOverride is { } hook ? hook(parent, tokens) : BlockHash.Chain(parent, tokens, fingerprint);

    bool Verify(int block, int parent, ReadOnlySpan<int> tokens) =>
        table.Parent[block] == parent && table.TokensOf(block).SequenceEqual(tokens);

    /// <summary>
    /// Finds the longest cached chain of whole blocks for <paramref name="tokens"/>, at most <paramref name="maxBlocks"/>,
    /// takes a reference on each and appends them to <paramref name="held"/>. Returns the number of blocks found.
    /// </summary>
    public int Lookup(ReadOnlySpan<int> tokens, int maxBlocks, List<int> held)
    {
        Queries++;
        QueriedTokens += tokens.Length;
        int bs = BlockSize;
        int parent = BlockTable.None;
        UInt128 hash = default;
        int found = 0;
        for (int j = 0; j < maxBlocks && (j + 1) * bs <= tokens.Length; j++)
        {
            var blockTokens = tokens.Slice(j * bs, bs);
            hash = Chain(hash, blockTokens);
            if (!index.TryGetValue(hash, out int block) || !Verify(block, parent, blockTokens)) break;
            table.Acquire(block);
            held.Add(block);
            parent = block;
            found++;
        }
        HitTokens += (long)found * bs;
        return found;
    }

    /// <summary>Copies blocks <paramref name="held"/>[0..count) into positions [0, count × BlockSize) of <paramref name="row"/>.</summary>
    public void Restore(int row, List<int> held, int count)
    {
        for (int j = 0; j < count; j++) CopyBlockToRow(held[j], row, j * BlockSize);
        KvSlabCopy.Fence();   // streaming stores must be visible before ORT's threads read the row
    }

    /// <summary>
    /// Commits block <paramref name="blockIndex"/> of a sequence in <paramref name="row"/> (its tokens are
    /// <paramref name="blockTokens"/>, its KV at positions [blockIndex × BlockSize, +BlockSize)). The sequence must hold
    /// its earlier blocks in <paramref name="held"/>; on success the block (new or an identical cached one) is referenced
    /// and appended. False when the chain is broken, a collision was detected, or no block could be freed.
    /// </summary>
    public bool Commit(int row, int blockIndex, ReadOnlySpan<int> blockTokens, List<int> held)
    {
        if (held.Count != blockIndex) return false;
        int parent = blockIndex == 0 ? BlockTable.None : held[blockIndex - 1];
        UInt128 parentHash = parent == BlockTable.None ? default : table.Hash[parent];
        UInt128 hash = Chain(parentHash, blockTokens);
        if (index.TryGetValue(hash, out int existing))
        {
            if (!Verify(existing, parent, blockTokens)) return false;   // collision: never index two blocks under one hash
            table.Acquire(existing);
            held.Add(existing);
            return true;
        }
        if (!TryAllocate(out int block)) return false;
        CopyRowToBlock(row, blockIndex * BlockSize, block);
        KvSlabCopy.Fence();   // the block may be handed to the SSD writer thread next
        table.Hash[block] = hash;
        table.Parent[block] = parent;
        blockTokens.CopyTo(table.TokensOf(block));
        if (parent != BlockTable.None) table.Children[parent]++;
        index[hash] = block;
        table.Acquire(block);
        held.Add(block);
        return true;
    }

    /// <summary>References every block of <paramref name="from"/> again, appended to <paramref name="to"/> (a forked sequence).</summary>
    public void AcquireCopy(List<int> from, List<int> to)
    {
        foreach (int b in from)
        {
            table.Acquire(b);
            to.Add(b);
        }
    }

    /// <summary>
    /// Offers every cached block to <paramref name="spill"/> (shutdown: what is only in RAM would be lost), parents before
    /// children so a partial pass still leaves usable chains. Stops when <paramref name="spill"/> returns false.
    /// </summary>
    public int SpillAll(Func<UInt128, UInt128, ReadOnlySpan<int>, ReadOnlySpan<byte>, bool> spill)
    {
        int n = 0;
        var order = new List<int>();
        var depth = new Dictionary<int, int>();
        for (int b = 0; b < table.Capacity; b++)
            if (table.IsCached(b)) order.Add(b);
        int Depth(int b)
        {
            if (depth.TryGetValue(b, out int d)) return d;
            int p = table.Parent[b];
            d = p == BlockTable.None ? 0 : Depth(p) + 1;
            depth[b] = d;
            return d;
        }
        order.Sort((a, b) => Depth(a).CompareTo(Depth(b)));
        foreach (int b in order)
        {
            if (!spill(table.Hash[b], ParentHashOf(b), table.TokensOf(b), BlockBytes(b))) break;
            n++;
        }
        return n;
    }

    /// <summary>Drops the references in <paramref name="held"/> (last block first, so shared roots stay most recent).</summary>
    public void ReleaseAll(List<int> held)
    {
        for (int i = held.Count - 1; i >= 0; i--) table.Release(held[i]);
        held.Clear();
    }

    bool TryAllocate(out int block)
    {
        if (table.TryTakeFree(out block)) return true;
        int victim = table.FindEvictable();
        if (victim == BlockTable.None) return false;
        Spill?.Invoke(table.Hash[victim], ParentHashOf(victim), table.TokensOf(victim), BlockBytes(victim));
        table.RemoveFromLru(victim);
        index.Remove(table.Hash[victim]);
        int p = table.Parent[victim];
        if (p != BlockTable.None) table.Children[p]--;
        table.ReturnFree(victim);
        Evictions++;
        return table.TryTakeFree(out block);
    }

    // ---- SSD tier hooks ----

    /// <summary>Called (engine thread) right before a block is evicted, so the SSD tier can copy it for writing.</summary>
    public BlockSpill? Spill { get; set; }

    /// <summary>Chain hash of a cached block (the SSD lookup continues the chain from the last RAM block).</summary>
    public UInt128 HashOf(int block) => table.Hash[block];

    /// <summary>Chain hash of a cached block's parent (default for the first block of a chain).</summary>
    public UInt128 ParentHashOf(int block) => table.Parent[block] is var p && p == BlockTable.None ? default : table.Hash[p];

    /// <summary>Token ids of a cached block.</summary>
    public ReadOnlySpan<int> TokensOf(int block) => table.TokensOf(block);

    /// <summary>
    /// Inserts block <c>held.Count</c> of a chain whose KV comes from elsewhere (the SSD tier): like <see cref="Commit"/>,
    /// but the caller fills <paramref name="destination"/> with the block's bytes (<see cref="Layout"/>) before the next
    /// call into the cache. On success the block is referenced and appended to <paramref name="held"/>; when an identical
    /// block is already cached, it is taken instead and <paramref name="destination"/> is empty (nothing to copy).
    /// False when <paramref name="hash"/> is not the chain hash of <paramref name="tokens"/> after <paramref name="held"/>,
    /// on a collision, or when no block could be freed.
    /// </summary>
    public bool TryAdopt(UInt128 hash, ReadOnlySpan<int> tokens, List<int> held, out Span<byte> destination)
    {
        destination = default;
        if (tokens.Length != BlockSize) return false;
        int parent = held.Count == 0 ? BlockTable.None : held[^1];
        if (Chain(parent == BlockTable.None ? default : table.Hash[parent], tokens) != hash) return false;
        if (index.TryGetValue(hash, out int existing))
        {
            if (!Verify(existing, parent, tokens)) return false;
            table.Acquire(existing);
            held.Add(existing);
            return true;
        }
        if (!TryAllocate(out int block)) return false;
        table.Hash[block] = hash;
        table.Parent[block] = parent;
        tokens.CopyTo(table.TokensOf(block));
        if (parent != BlockTable.None) table.Children[parent]++;
        index[hash] = block;
        table.Acquire(block);
        held.Add(block);
        destination = BlockBytes(block);
        return true;
    }

    void CopyRowToBlock(int row, int position, int block)
    {
        var l = Layout;
        byte* dst = BlockPointer(block);
        for (int layer = 0; layer < l.Layers; layer++)
            for (int kv = 0; kv < 2; kv++)
                for (int h = 0; h < l.KvHeads; h++)
                {
                    byte* src = rows.SlabPointer(row, layer, kv == 1, h, position);
                    byte* slab = dst + (long)l.SlabIndex(layer, kv == 1, h) * l.SlabBytes;
                    if (!l.Quantized)
                    {
                        KvSlabCopy.Copy(src, slab, l.RowSlabBytes);
                        continue;
                    }
                    ReadOnlySpan<float> values = l.ElementSize == 4 ? new ReadOnlySpan<float>(src, l.SlabValues) : ToFloat(src);
                    quantizer!.Quantize(values, new Span<sbyte>(slab, l.SlabValues), new Span<float>(slab + l.SlabValues, l.GroupsPerSlab));
                }
    }

    void CopyBlockToRow(int block, int row, int position)
    {
        var l = Layout;
        byte* srcBlock = BlockPointer(block);
        for (int layer = 0; layer < l.Layers; layer++)
            for (int kv = 0; kv < 2; kv++)
                for (int h = 0; h < l.KvHeads; h++)
                {
                    byte* dst = rows.SlabPointer(row, layer, kv == 1, h, position);
                    byte* slab = srcBlock + (long)l.SlabIndex(layer, kv == 1, h) * l.SlabBytes;
                    if (!l.Quantized)
                    {
                        KvSlabCopy.Copy(slab, dst, l.RowSlabBytes);
                        continue;
                    }
                    var values = new ReadOnlySpan<sbyte>(slab, l.SlabValues);
                    var scales = new ReadOnlySpan<float>(slab + l.SlabValues, l.GroupsPerSlab);
                    if (l.ElementSize == 4) KvQuantizer.Dequantize(values, scales, new Span<float>(dst, l.SlabValues), l.GroupSize);
                    else
                    {
                        KvQuantizer.Dequantize(values, scales, convert, l.GroupSize);
                        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(convert, new Span<Half>(dst, l.SlabValues));
                    }
                }
    }

    ReadOnlySpan<float> ToFloat(byte* src)
    {
        System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, Layout.SlabValues), convert);
        return convert;
    }

    /// <summary>Consistency check for tests: every cached block is referenced or on the LRU list; nothing leaked.</summary>
    internal string? CheckInvariants()
    {
        int referenced = 0;
        for (int b = 0; b < table.Capacity; b++)
        {
            if (!table.IsCached(b)) continue;
            if (table.RefCount[b] < 0) return $"block {b} has refcount {table.RefCount[b]}";
            if (table.RefCount[b] > 0) referenced++;
            if (!index.TryGetValue(table.Hash[b], out int indexed) || indexed != b) return $"cached block {b} is not indexed";
        }
        if (index.Count != table.CachedCount) return $"index has {index.Count} entries, table {table.CachedCount} cached";
        int lru = table.LruCount();
        if (referenced + lru != table.CachedCount) return $"{referenced} referenced + {lru} on LRU != {table.CachedCount} cached";
        return null;
    }

    internal int ReferencedBlocks()
    {
        int n = 0;
        for (int b = 0; b < table.Capacity; b++) if (table.IsCached(b) && table.RefCount[b] > 0) n++;
        return n;
    }

    public void Dispose() => memory.Dispose();
}
