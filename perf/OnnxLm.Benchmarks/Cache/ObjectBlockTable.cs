namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// The straightforward block table: an object per block, a <see cref="LinkedList{T}"/> as LRU (least recent first) and a
/// Dictionary index. Same invariants as the engine's BlockTable. With <c>pooled</c> false it allocates like typical
/// code (a new block per commit, a new list node per release); pooled reuses evicted blocks and their nodes, so the
/// comparison can separate object layout from allocation.
/// </summary>
internal sealed class ObjectBlockTable(int capacity, int blockSize, bool pooled)
{
    public readonly Dictionary<UInt128, ObjectBlock> Index = new(capacity);
    readonly LinkedList<ObjectBlock> lru = new();
    int allocated;

    public void Acquire(ObjectBlock block)
    {
        if (block.RefCount++ == 0 && block.Lru is { List: not null } node)
        {
            lru.Remove(node);
            if (!pooled) block.Lru = null;
        }
    }

    public void Release(ObjectBlock block)
    {
        if (block.RefCount <= 0) throw new InvalidOperationException("block released more often than acquired");
        if (--block.RefCount != 0) return;
        if (pooled && block.Lru is { } node) lru.AddLast(node);
        else block.Lru = lru.AddLast(block);
    }

    /// <summary>A fresh block, or the least recently used unreferenced leaf evicted; null when nothing is evictable.</summary>
    public ObjectBlock? TryAllocate()
    {
        if (allocated < capacity)
        {
            allocated++;
            return new ObjectBlock(blockSize);
        }
        for (var node = lru.First; node is not null; node = node.Next)
        {
            var victim = node.Value;
            if (victim.Children != 0) continue;
            lru.Remove(node);
            Index.Remove(victim.Hash);
            if (victim.Parent is { } parent) parent.Children--;
            if (!pooled) return new ObjectBlock(blockSize);
            victim.Parent = null;
            victim.RefCount = 0;
            victim.Children = 0;
            return victim;
        }
        return null;
    }
}
