namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// The hand-written struct-of-arrays block table that preceded the generated one (kept verbatim for the benchmark).
/// Metadata of every block, struct-of-arrays (no per-block objects): hash, parent, token ids, reference count, child
/// count, LRU links and state. Invariants: a block is Free (on the free stack) or Cached (in the prefix index); a cached
/// block with refCount 0 is on the LRU list, ordered least → most recently released; a referenced block is not.
/// A sequence that holds block j of its chain also holds blocks 0..j-1, so a referenced block's ancestors are referenced.
/// </summary>
internal sealed class ArrayBlockTable
{
    public const int None = -1;

    public readonly UInt128[] Hash;
    public readonly int[] Parent;
    public readonly int[] RefCount;
    public readonly int[] Children;
    public readonly int[] Tokens;
    readonly int[] lruPrev, lruNext;
    readonly bool[] cached;
    readonly int[] freeStack;
    int freeCount;
    int lruHead = None, lruTail = None;

    public ArrayBlockTable(int capacity, int blockSize)
    {
        Capacity = capacity;
        BlockSize = blockSize;
        Hash = new UInt128[capacity];
        Parent = new int[capacity];
        RefCount = new int[capacity];
        Children = new int[capacity];
        Tokens = new int[(long)capacity * blockSize > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(capacity)) : capacity * blockSize];
        lruPrev = new int[capacity];
        lruNext = new int[capacity];
        cached = new bool[capacity];
        freeStack = new int[capacity];
        for (int i = 0; i < capacity; i++) freeStack[i] = capacity - 1 - i;
        freeCount = capacity;
    }

    public int Capacity { get; }
    public int BlockSize { get; }
    public int FreeCount => freeCount;
    public int CachedCount => Capacity - freeCount;
    public bool IsCached(int block) => cached[block];
    public Span<int> TokensOf(int block) => Tokens.AsSpan(block * BlockSize, BlockSize);

    public bool TryTakeFree(out int block)
    {
        if (freeCount == 0)
        {
            block = None;
            return false;
        }
        block = freeStack[--freeCount];
        cached[block] = true;
        RefCount[block] = 0;
        Children[block] = 0;
        lruPrev[block] = lruNext[block] = None;
        return true;
    }

    public void ReturnFree(int block)
    {
        cached[block] = false;
        freeStack[freeCount++] = block;
    }

    /// <summary>Takes a reference; an unreferenced block leaves the LRU list.</summary>
    public void Acquire(int block)
    {
        if (RefCount[block]++ == 0) Unlink(block);
    }

    /// <summary>Drops a reference; the last one puts the block at the most-recent end of the LRU list.</summary>
    public void Release(int block)
    {
        if (RefCount[block] <= 0) throw new InvalidOperationException($"block {block} released more often than acquired");
        if (--RefCount[block] == 0) AppendMostRecent(block);
    }

    /// <summary>The least recently used unreferenced block with no cached children, or <see cref="None"/>.</summary>
    public int FindEvictable()
    {
        for (int b = lruHead; b != None; b = lruNext[b])
            if (Children[b] == 0) return b;
        return None;
    }

    /// <summary>Unlinks an unreferenced block from the LRU list (before eviction).</summary>
    public void RemoveFromLru(int block) => Unlink(block);

    void AppendMostRecent(int block)
    {
        lruPrev[block] = lruTail;
        lruNext[block] = None;
        if (lruTail != None) lruNext[lruTail] = block;
        else lruHead = block;
        lruTail = block;
    }

    void Unlink(int block)
    {
        int p = lruPrev[block], n = lruNext[block];
        if (p != None) lruNext[p] = n;
        else if (lruHead == block) lruHead = n;
        if (n != None) lruPrev[n] = p;
        else if (lruTail == block) lruTail = p;
        lruPrev[block] = lruNext[block] = None;
    }

    /// <summary>Number of blocks on the LRU list (tests: every cached block is referenced or on it).</summary>
    internal int LruCount()
    {
        int n = 0;
        for (int b = lruHead; b != None; b = lruNext[b]) n++;
        return n;
    }
}
