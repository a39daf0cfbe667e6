using OnnxLm.Engine.Cache;

namespace OnnxLm.Tests.Cache;

/// <summary>The block table over the generated struct-of-arrays storage: free stack, reference counts, LRU order, leaf-only eviction.</summary>
public class BlockTableTests
{
    [Test]
    public async Task Fresh_table_hands_out_blocks_in_index_order_with_clean_bookkeeping()
    {
        var table = new BlockTable(3, 4);
        var taken = new List<int>();
        while (table.TryTakeFree(out int b)) taken.Add(b);

        await Assert.That(taken).IsEquivalentTo(new[] { 0, 1, 2 });
        await Assert.That(table.FreeCount).IsEqualTo(0);
        await Assert.That(table.CachedCount).IsEqualTo(3);
        await Assert.That(table.IsCached(1)).IsTrue();
        await Assert.That(table.Parent).IsEquivalentTo(new[] { BlockTable.None, BlockTable.None, BlockTable.None });
        await Assert.That(table.LruCount()).IsEqualTo(0).Because("a taken block is not on the LRU list until released");
    }

    [Test]
    public async Task Token_spans_of_blocks_are_disjoint_slices_of_one_column()
    {
        var table = new BlockTable(3, 4);
        table.TokensOf(1).Fill(7);
        await Assert.That(table.Tokens).IsEquivalentTo(new[] { 0, 0, 0, 0, 7, 7, 7, 7, 0, 0, 0, 0 });
        await Assert.That(table.TokensOf(2).Length).IsEqualTo(4);
    }

    [Test]
    public async Task Eviction_takes_the_least_recently_released_leaf()
    {
        var table = new BlockTable(4, 1);
        table.TryTakeFree(out int root);
        table.TryTakeFree(out int child);
        table.TryTakeFree(out int other);
        table.Parent[child] = root;
        table.Children[root]++;
        foreach (int b in new[] { root, child, other }) table.Acquire(b);

        // Root released first (least recent) but it has a cached child, so the child goes first.
        table.Release(root);
        table.Release(child);
        table.Release(other);
        await Assert.That(table.LruCount()).IsEqualTo(3);
        await Assert.That(table.FindEvictable()).IsEqualTo(child);

        table.RemoveFromLru(child);
        table.Children[root]--;
        table.ReturnFree(child);
        await Assert.That(table.FindEvictable()).IsEqualTo(root);
        await Assert.That(table.IsCached(child)).IsFalse();

        table.Acquire(root);   // referenced again: off the LRU list
        await Assert.That(table.FindEvictable()).IsEqualTo(other);
        await Assert.That(table.LruCount()).IsEqualTo(1);
    }

    [Test]
    public async Task Releasing_more_often_than_acquired_throws()
    {
        var table = new BlockTable(1, 1);
        table.TryTakeFree(out int b);
        table.Acquire(b);
        table.Release(b);
        await Assert.That(() => table.Release(b)).Throws<InvalidOperationException>();
    }

    [Test]
    public async Task Reset_restores_the_field_initializers_of_one_record()
    {
        var columns = new BlockColumns(2, 3);
        columns.Parent(0) = 5;
        columns.Parent(1) = 6;
        columns.LruNext(0) = 1;
        columns.Cached(0) = true;
        columns.Hash(0) = 42;
        columns.Tokens(0).Fill(9);

        columns.Reset(0);

        await Assert.That(columns.Parent(0)).IsEqualTo(BlockTable.None);
        await Assert.That(columns.LruNext(0)).IsEqualTo(BlockTable.None);
        await Assert.That(columns.Cached(0)).IsFalse();
        await Assert.That(columns.Hash(0)).IsEqualTo(UInt128.Zero);
        await Assert.That(columns.TokensColumn).IsEquivalentTo(new int[6]);
        await Assert.That(columns.Parent(1)).IsEqualTo(6).Because("other records are untouched");
    }

    /// <summary>
    /// Random commits, chain reuses and finishes (the prefix cache's pattern: a sequence holds a whole chain, releases
    /// last block first, a full table evicts the LRU leaf) against a plain reference model with a List as LRU.
    /// </summary>
    [Test]
    public async Task Random_sequences_match_a_reference_model()
    {
        const int capacity = 24;
        var table = new BlockTable(capacity, 2);
        var reference = new ReferenceTable(capacity);
        var sequences = new List<List<int>>();
        var rng = new Random(7);
        for (int step = 0; step < 20_000; step++)
        {
            int op = rng.Next(10);
            if (op < 5)
            {
                // Commit one more block to a (new or running) sequence.
                if (sequences.Count == 0 || rng.Next(4) == 0) sequences.Add([]);
                var held = sequences[rng.Next(sequences.Count)];
                int parent = held.Count == 0 ? BlockTable.None : held[^1];
                if (!table.TryTakeFree(out int block))
                {
                    int victim = table.FindEvictable();
                    await Assert.That(victim).IsEqualTo(reference.FindEvictable());
                    if (victim == BlockTable.None) continue;
                    table.RemoveFromLru(victim);
                    if (table.Parent[victim] != BlockTable.None) table.Children[table.Parent[victim]]--;
                    table.ReturnFree(victim);
                    reference.Evict(victim);
                    await Assert.That(table.TryTakeFree(out block)).IsTrue();
                }
                reference.Take(block, parent);
                table.Parent[block] = parent;
                if (parent != BlockTable.None) table.Children[parent]++;
                table.Acquire(block);
                reference.Acquire(block);
                held.Add(block);
            }
            else if (op < 8)
            {
                // Reuse the chain ending at a random cached block (a prefix hit), root first.
                int end = rng.Next(capacity);
                if (!table.IsCached(end)) continue;
                var chain = new List<int>();
                for (int b = end; b != BlockTable.None; b = table.Parent[b]) chain.Insert(0, b);
                foreach (int b in chain)
                {
                    table.Acquire(b);
                    reference.Acquire(b);
                }
                sequences.Add(chain);
            }
            else if (sequences.Count > 0)
            {
                int i = rng.Next(sequences.Count);
                var held = sequences[i];
                for (int j = held.Count - 1; j >= 0; j--)
                {
                    table.Release(held[j]);
                    reference.Release(held[j]);
                }
                sequences.RemoveAt(i);
            }

            if (step % 97 != 0) continue;
            await Assert.That(table.FindEvictable()).IsEqualTo(reference.FindEvictable());
            await Assert.That(table.LruCount()).IsEqualTo(reference.Lru.Count);
            await Assert.That(table.FreeCount).IsEqualTo(capacity - reference.CachedCount);
            await Assert.That(table.RefCount).IsEquivalentTo(reference.RefCount);
        }
    }

    /// <summary>The obvious implementation, for comparison: LRU as a List, linear scans.</summary>
    sealed class ReferenceTable(int capacity)
    {
        public readonly int[] RefCount = new int[capacity];
        public readonly List<int> Lru = [];
        readonly int[] parent = new int[capacity];
        readonly int[] children = new int[capacity];
        readonly bool[] cached = new bool[capacity];

        public int CachedCount => cached.Count(c => c);

        public void Take(int block, int parentBlock)
        {
            cached[block] = true;
            RefCount[block] = 0;
            children[block] = 0;
            parent[block] = parentBlock;
            if (parentBlock != BlockTable.None) children[parentBlock]++;
        }

        public void Acquire(int block)
        {
            if (RefCount[block]++ == 0) Lru.Remove(block);
        }

        public void Release(int block)
        {
            if (--RefCount[block] == 0) Lru.Add(block);
        }

        public int FindEvictable() => Lru.FirstOrDefault(b => children[b] == 0, BlockTable.None);

        public void Evict(int block)
        {
            Lru.Remove(block);
            if (parent[block] != BlockTable.None) children[parent[block]]--;
            cached[block] = false;
        }
    }
}
