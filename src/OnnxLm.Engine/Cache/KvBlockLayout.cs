namespace OnnxLm.Engine.Cache;

/// <summary>
/// Byte layout of one KV block: for every (layer, K|V, kv head) a slab of <see cref="BlockSize"/> positions × head size
/// values, slabs in that order. Lossless blocks hold the model's own element type; int8 blocks hold int8 values followed
/// by one float scale per group of <see cref="GroupSize"/> consecutive values of the slab.
/// </summary>
public sealed record KvBlockLayout(int Layers, int KvHeads, int HeadSize, int BlockSize, int ElementSize, int Bits, int GroupSize)
{
    public int Slabs => Layers * 2 * KvHeads;
    public int SlabValues => BlockSize * HeadSize;
    public bool Quantized => Bits == 8;
    public int GroupsPerSlab => (SlabValues + GroupSize - 1) / GroupSize;
    /// <summary>Bytes of one slab: raw values, or int8 values plus the float scales.</summary>
    public int SlabBytes => Quantized ? SlabValues + 4 * GroupsPerSlab : SlabValues * ElementSize;
    public long BlockBytes => (long)SlabBytes * Slabs;
    /// <summary>Bytes the same positions take in a slot row (the model's element type).</summary>
    public int RowSlabBytes => SlabValues * ElementSize;

    public int SlabIndex(int layer, bool value, int kvHead) => (layer * 2 + (value ? 1 : 0)) * KvHeads + kvHead;
}
