namespace OnnxLm.Engine.Cache;

/// <summary>
/// Declaration of one block's metadata. Never instantiated: the generator turns it into <see cref="BlockColumns"/>,
/// one array per field, which <see cref="BlockTable"/> keeps its invariants over. Field initializers are what
/// <c>Reset</c> restores.
/// </summary>
[StructOfArrays("BlockColumns")]
internal partial struct BlockRecord
{
    public BlockRecord() { }

    /// <summary>Chain hash h_i = H(h_{i-1}, tokens, fingerprint); the prefix index key.</summary>
    public UInt128 Hash;
    /// <summary>The previous block of the chain, or <see cref="BlockTable.None"/> for a first block.</summary>
    public int Parent = BlockTable.None;
    /// <summary>Sequences holding the block; 0 means it sits on the LRU list.</summary>
    public int RefCount;
    /// <summary>Cached blocks whose parent this is; only a block with none may be evicted.</summary>
    public int Children;
    public int LruPrev = BlockTable.None;
    public int LruNext = BlockTable.None;
    /// <summary>In the prefix index (true) or on the free stack (false).</summary>
    public bool Cached;
    /// <summary>The block's token ids (block-size of them).</summary>
    [SpanColumn] public int[]? Tokens;
}
