namespace OnnxLm.Engine.Cache;

/// <summary>
/// Metadata of every block over the generated struct-of-arrays <see cref="BlockColumns"/> (no per-block objects): hash,
/// parent, token ids, reference count, child count, LRU links and state. Invariants: a block is Free (on the free stack)
/// or Cached (in the prefix index); a cached block with refCount 0 is on the LRU list, ordered least → most recently
/// released; a referenced block is not. A sequence that holds block j of its chain also holds blocks 0..j-1, so a
/// referenced block's ancestors are referenced.
/// </summary>
internal sealed class BlockTable
{
    public const int None = -1;

    // The columns the prefix cache reads and writes directly (same arrays as the generated storage).
    public readonly UInt128[] Hash;
    public readonly int[] Parent;
    public readonly int[] RefCount;
    public readonly int[] Children;
    public readonly int[] Tokens;
    readonly BlockColumns blocks;
    readonly int[] freeStack;
    int freeCount;
    int lruHead = None, lruTail = None;

    public BlockTable(int capacity, int blockSize)
    {
        if ((long)capacity * blockSize > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(capacity));
        Capacity = capacity;
        BlockSize = blockSize;
        blocks = new BlockColumns(capacity, blockSize);
        Hash = blocks.HashColumn;
        Parent = blocks.ParentColumn;
        RefCount = blocks.RefCountColumn;
        Children = blocks.ChildrenColumn;
        Tokens = blocks.TokensColumn;
        freeStack = new int[capacity];
        // Lowest index on top, so a fresh table hands out blocks 0, 1, 2, … (adjacent memory in the pool).
        for (int i = 0; i < capacity; i++) freeStack[i] = capacity - 1 - i;
        freeCount = capacity;
    }

    public int Capacity { get; }
    public int BlockSize { get; }
    public int FreeCount => freeCount;
    public int CachedCount => Capacity - freeCount;
    public bool IsCached(int block) => blocks.Cached(block);
    public Span<int> TokensOf(int block) => blocks.Tokens(block);

    public bool TryTakeFree(out int block)
    {
        if (freeCount == 0)
        {
            block = None;
            return false;
        }
        block = freeStack[--freeCount];
        // Hash, parent and tokens are overwritten by the commit that takes the block; clear only the bookkeeping.
        blocks.Cached(block) = true;
        blocks.RefCount(block) = 0;
        blocks.Children(block) = 0;
        blocks.LruPrev(block) = blocks.LruNext(block) = None;
        return true;
    }

    public void ReturnFree(int block)
    {
        blocks.Cached(block) = false;
        freeStack[freeCount++] = block;
    }

    /// <summary>Takes a reference; an unreferenced block leaves the LRU list.</summary>
    public void Acquire(int block)
    {
        if (blocks.RefCount(block)++ == 0) Unlink(block);
    }

    /// <summary>Drops a reference; the last one puts the block at the most-recent end of the LRU list.</summary>
    public void Release(int block)
    {
        ref int refCount = ref blocks.RefCount(block);
        if (refCount <= 0) throw new InvalidOperationException($"block {block} released more often than acquired");
        if (--refCount == 0) AppendMostRecent(block);
    }

    /// <summary>The least recently used unreferenced block with no cached children, or <see cref="None"/>.</summary>
    public int FindEvictable()
    {
        for (int b = lruHead; b != None; b = blocks.LruNext(b))
            if (blocks.Children(b) == 0) return b;
        return None;
    }

    /// <summary>Unlinks an unreferenced block from the LRU list (before eviction).</summary>
    public void RemoveFromLru(int block) => Unlink(block);

    void AppendMostRecent(int block)
    {
        blocks.LruPrev(block) = lruTail;
        blocks.LruNext(block) = None;
        if (lruTail != None) blocks.LruNext(lruTail) = block;
        else lruHead = block;
        lruTail = block;
    }

    void Unlink(int block)
    {
        ref int prev = ref blocks.LruPrev(block);
        ref int next = ref blocks.LruNext(block);
        int p = prev, n = next;
        if (p != None) blocks.LruNext(p) = n;
        else if (lruHead == block) lruHead = n;
        if (n != None) blocks.LruPrev(n) = p;
        else if (lruTail == block) lruTail = p;
        prev = next = None;
    }

    /// <summary>Number of blocks on the LRU list (tests: every cached block is referenced or on it).</summary>
    internal int LruCount()
    {
        int n = 0;
        for (int b = lruHead; b != None; b = blocks.LruNext(b)) n++;
        return n;
    }
}
