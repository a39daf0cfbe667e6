using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Everything that lets a prompt skip prefill: the lookup in the RAM prefix cache and in a free row's resident KV at
/// admission, the read of a chain's continuation from the SSD tier (started when the request arrives) and its adoption
/// into the RAM pool, the commit of every whole block while a sequence fills its row, and the persisting of RAM blocks at
/// shutdown. Invariant: a sequence's <see cref="Sequence.Blocks"/> is its chain of whole blocks from position 0, each held
/// once, released exactly once when it ends; restored KV is bit-identical to what prefill writes (docs/ENGINE.md §6).
/// Engine thread only; SSD reads run on the thread pool into staging buffers this type lends and takes back.
/// </summary>
internal sealed class PrefixReuse : IDisposable
{
    /// <summary>Staging buffers kept for reuse: more reads in flight than this allocate (and drop) their own.</summary>
    const int PooledStaging = 2;

    readonly PrefixCache? cache;
    readonly SsdKvTier? ssd;
    readonly bool ssdWriteThrough;
    readonly EngineWakeup wakeup;
    readonly EngineCounters counters;
    readonly Action<Task<int>, object?> signal = static (_, state) => ((EngineWakeup)state!).Signal();
    readonly Stack<byte[]> staging = new(PooledStaging);
    readonly int stagingBlocks;

    public PrefixReuse(PrefixCache? cache, SsdKvTier? ssd, bool ssdWriteThrough, int contextLength, EngineWakeup wakeup, EngineCounters counters)
    {
        this.cache = cache;
        this.ssd = cache is null ? null : ssd;
        this.ssdWriteThrough = ssdWriteThrough;
        this.wakeup = wakeup;
        this.counters = counters;
        if (cache is not null && this.ssd is not null)
        {
            cache.Spill = (hash, parent, tokens, bytes) => this.ssd.TryEnqueueWrite(hash, parent, tokens, bytes);
            // A staging buffer holds the longest chain a prompt can have (at least one token is always prefilled).
            stagingBlocks = (int)Math.Min((contextLength - 1) / cache.BlockSize, int.MaxValue / cache.Layout.BlockBytes);
        }
    }

    public PrefixCache? Cache => cache;
    public SsdKvTier? Ssd => ssd;
    /// <summary>Positions per block; 1 when the cache is off.</summary>
    public int BlockSize => cache?.BlockSize ?? 1;
    /// <summary>Whether a sequence's whole blocks are committed (<see cref="Commit"/> does nothing otherwise).</summary>
    public bool Enabled => cache is not null;

    /// <summary>Looks the prompt up in the block cache once (it takes references on the blocks found).</summary>
    int LookupBlocks(Sequence seq)
    {
        if (cache is null) return 0;
        if (!seq.LookedUp)
        {
            seq.LookedUp = true;
            // At least one prompt token is always prefilled: its logits give the first generated token.
            cache.Lookup(seq.Request.PromptTokens, (seq.PromptLength - 1) / cache.BlockSize, seq.Blocks);
        }
        return seq.Blocks.Count * cache.BlockSize;
    }

    public bool HasCachedPrefix(Sequence seq, SlotRowTable rows) => LookupBlocks(seq) > 0 || rows.BestResidentRow(seq, out _) > 0;

    /// <summary>
    /// Places <paramref name="seq"/> in row DecodeCount with as much of its prompt's KV as the cache can give: a free row
    /// that already holds the prefix (reused in place, or copied when it is another row) or the block chain (copied in).
    /// False when nothing is cached for it.
    /// </summary>
    public bool TryReuse(Sequence seq, SlotRowTable rows)
    {
        int blocks = LookupBlocks(seq);
        int resident = rows.BestResidentRow(seq, out int residentRow);
        int target = rows.DecodeCount;
        if (resident == 0 && blocks == 0) return false;
        if (resident >= blocks)
        {
            if (residentRow != target) rows.CopyKv(residentRow, target, resident);
            seq.Length = resident;
        }
        else
        {
            cache!.Restore(target, seq.Blocks, seq.Blocks.Count);
            seq.Length = blocks;
        }
        rows.Claim(seq, target);
        seq.CachedTokens = seq.Length;
        Interlocked.Add(ref counters.CachedPromptTokens, seq.Length);
        return true;
    }

    /// <summary>Commits every whole block of the sequence's KV not yet in its chain (stops at the first that cannot be).</summary>
    public void Commit(Sequence seq)
    {
        if (cache is null) return;
        int bs = cache.BlockSize;
        for (int j = seq.Blocks.Count; (j + 1) * bs <= seq.Length; j++)
        {
            if (!cache.Commit(seq.Row, j, seq.Tokens.AsSpan(j * bs, bs), seq.Blocks)) break;
            if (ssd is not null && ssdWriteThrough)
            {
                int b = seq.Blocks[^1];
                ssd.TryEnqueueWrite(cache.HashOf(b), cache.ParentHashOf(b), cache.TokensOf(b), cache.BlockBytes(b));
            }
        }
    }

    /// <summary>A forked sibling shares its parent's chain (one more reference on each block).</summary>
    public void Share(Sequence parent, Sequence sibling) => cache?.AcquireCopy(parent.Blocks, sibling.Blocks);

    /// <summary>
    /// When a request arrives: look its prompt up in RAM, and if the chain goes on in the SSD tier, start reading those
    /// blocks on the thread pool right away, so they are in memory by the time the request gets a row.
    /// </summary>
    public void StartSsdRead(Sequence seq)
    {
        if (ssd is null || cache is null) return;
        int bs = cache.BlockSize;
        int max = (seq.PromptLength - 1) / bs;
        int inRam = LookupBlocks(seq) / bs;
        if (inRam >= max) return;
        UInt128 parent = inRam == 0 ? default : cache.HashOf(seq.Blocks[^1]);
        var hashes = new UInt128[Math.Min(max - inRam, stagingBlocks)];
        int found = ssd.LookupChain(seq.Request.PromptTokens, inRam, parent, hashes.Length, hashes);
        if (found == 0) return;
        seq.SsdHashes = hashes;
        seq.SsdFirstBlock = inRam;
        seq.SsdStaging = staging.TryPop(out var buffer) ? buffer : GC.AllocateUninitializedArray<byte>((int)(stagingBlocks * cache.Layout.BlockBytes));
        var read = ssd.ReadChainAsync(seq.Request.PromptTokens, inRam, parent, hashes.AsMemory(0, found), seq.SsdStaging);
        seq.SsdRead = read;
        read.ContinueWith(signal, wakeup, TaskScheduler.Default);
    }

    /// <summary>Moves blocks read from the SSD tier into the RAM pool (and the sequence's chain), once the read is done.</summary>
    public void AdoptSsdBlocks(Sequence seq)
    {
        if (seq.SsdRead is not { } read || cache is null) return;
        int ok = read.IsCompletedSuccessfully ? read.Result : 0;
        int bs = cache.BlockSize;
        long blockBytes = cache.Layout.BlockBytes;
        // Only a chain that continues exactly where RAM stopped can be adopted.
        if (seq.Blocks.Count == seq.SsdFirstBlock)
        {
            for (int j = 0; j < ok; j++)
            {
                var tokens = seq.Request.PromptTokens.AsSpan((seq.SsdFirstBlock + j) * bs, bs);
                if (!cache.TryAdopt(seq.SsdHashes![j], tokens, seq.Blocks, out var destination)) break;
                seq.SsdStaging.AsSpan((int)(j * blockBytes), destination.Length).CopyTo(destination);
            }
        }
        ReturnStaging(seq);
    }

    /// <summary>Takes back a sequence's staging buffer; one a read still writes into is left to the collector.</summary>
    void ReturnStaging(Sequence seq)
    {
        if (seq.SsdStaging is { } buffer && seq.SsdRead is { IsCompleted: true } && staging.Count < PooledStaging) staging.Push(buffer);
        seq.SsdRead = null;
        seq.SsdStaging = null;
        seq.SsdHashes = null;
    }

    /// <summary>A sequence ended: its blocks and any staging buffer go back.</summary>
    public void Release(Sequence seq)
    {
        if (seq.SsdStaging is not null) ReturnStaging(seq);
        if (cache is not null && seq.Blocks.Count > 0) cache.ReleaseAll(seq.Blocks);
    }

    /// <summary>Test hook (engine idle only): restores the cached blocks of a prompt into a row; returns the positions restored.</summary>
    public int RestoreForTest(int[] prompt, int row)
    {
        var held = new List<int>();
        int n = cache!.Lookup(prompt, (prompt.Length - 1) / cache.BlockSize, held);
        cache.Restore(row, held, n);
        cache.ReleaseAll(held);
        return n * cache.BlockSize;
    }

    /// <summary>
    /// At shutdown, queues every block that lives only in RAM for the SSD tier (already-persisted ones are skipped by the
    /// tier), waiting for queue room within <paramref name="budget"/>, so a restart finds the conversations of this run.
    /// </summary>
    public void PersistCachedBlocks(TimeSpan budget)
    {
        if (ssd is null || cache is null || ssd.Mode != SsdTierMode.ReadWrite) return;
        var deadline = DateTime.UtcNow + budget;
        var tier = ssd;
        cache.SpillAll((hash, parent, tokens, bytes) =>
        {
            while (!tier.TryEnqueueWrite(hash, parent, tokens, bytes))
            {
                if (tier.WritingStopped || DateTime.UtcNow > deadline) return false;
                Thread.Sleep(1);
            }
            return true;
        });
    }

    public void Dispose()
    {
        ssd?.Dispose();
        cache?.Dispose();
    }
}
