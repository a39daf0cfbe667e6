using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Remote;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Everything that lets a prompt skip prefill: the lookup in the RAM prefix cache and in a free row's resident KV at
/// admission, the read of a chain's continuation from the SSD tier and then from the remote tier (started when the
/// request arrives) and its adoption into the RAM pool, the commit of every whole block while a sequence fills its row
/// (queued for the remote tier too), and the persisting of RAM blocks at shutdown. Invariant: a sequence's <see cref="Sequence.Blocks"/> is its chain of whole blocks from position 0, each held
/// once, released exactly once when it ends; restored KV is bit-identical to what prefill writes (docs/ENGINE.md §6).
/// Engine thread only; SSD reads and Redis lookups run on the thread pool into staging buffers this type lends and takes
/// back, so the engine thread never waits on the disk or the network.
/// </summary>
internal sealed class PrefixReuse : IDisposable
{
    /// <summary>Staging buffers kept for reuse: more reads in flight than this allocate (and drop) their own.</summary>
    const int PooledStaging = 2;

    readonly PrefixCache? cache;
    readonly SsdKvTier? ssd;
    readonly RemoteKvTier? remote;
    readonly bool ssdWriteThrough;
    readonly EngineWakeup wakeup;
    readonly EngineCounters counters;
    readonly Action<Task<TierReadResult>, object?> signal = static (_, state) => ((EngineWakeup)state!).Signal();
    readonly List<byte[]> staging = new(PooledStaging);
    readonly int stagingBlocks;

    public PrefixReuse(PrefixCache? cache, SsdKvTier? ssd, RemoteKvTier? remote, bool ssdWriteThrough, int contextLength, EngineWakeup wakeup, EngineCounters counters)
    {
        this.cache = cache;
        this.ssd = cache is null ? null : ssd;
        this.remote = cache is null ? null : remote;
        this.ssdWriteThrough = ssdWriteThrough;
        this.wakeup = wakeup;
        this.counters = counters;
        if (cache is not null && this.ssd is not null)
        {
            cache.Spill = (hash, parent, tokens, bytes) => this.ssd.TryEnqueueWrite(hash, parent, tokens, bytes);
        }
        if (cache is not null && (this.ssd is not null || this.remote is not null))
        {
            // The longest chain a prompt can have past RAM (at least one token is always prefilled).
            stagingBlocks = (int)Math.Min((contextLength - 1) / cache.BlockSize, int.MaxValue / cache.Layout.BlockBytes);
        }
    }

    public PrefixCache? Cache => cache;
    public SsdKvTier? Ssd => ssd;
    public RemoteKvTier? Remote => remote;
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
        // Per tier: blocks adopted from SSD or Redis count there only when the chain was restored (not a resident row).
        int fromSsd = resident >= blocks ? 0 : seq.SsdAdoptedBlocks * BlockSize;
        int fromRemote = resident >= blocks ? 0 : seq.RemoteAdoptedBlocks * BlockSize;
        Interlocked.Add(ref counters.CachedSsdTokens, fromSsd);
        Interlocked.Add(ref counters.CachedRemoteTokens, fromRemote);
        Interlocked.Add(ref counters.CachedPoolTokens, seq.Length - fromSsd - fromRemote);
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
            if (remote is not null)
            {
                int b = seq.Blocks[^1];
                remote.TryEnqueueWrite(cache.HashOf(b), cache.ParentHashOf(b), cache.TokensOf(b), cache.BlockBytes(b));
            }
        }
    }

    /// <summary>A forked sibling shares its parent's chain (one more reference on each block).</summary>
    public void Share(Sequence parent, Sequence sibling) => cache?.AcquireCopy(parent.Blocks, sibling.Blocks);

    /// <summary>
    /// When a request arrives: look its prompt up in RAM, and if the chain goes on past RAM, start reading it on the
    /// thread pool right away, so the blocks are in memory by the time the request gets a row: from the SSD tier as far
    /// as its index has the chain, then from the remote tier (pipelined MGETs, stopping at the first miss).
    /// </summary>
    public void StartTierRead(Sequence seq)
    {
        if ((ssd is null && remote is null) || cache is null) return;
        int bs = cache.BlockSize;
        int max = (seq.PromptLength - 1) / bs;
        int inRam = LookupBlocks(seq) / bs;
        if (inRam >= max) return;
        UInt128 parent = inRam == 0 ? default : cache.HashOf(seq.Blocks[^1]);
        var hashes = new UInt128[Math.Min(max - inRam, stagingBlocks)];
        int found = ssd?.LookupChain(seq.Request.PromptTokens, inRam, parent, hashes.Length, hashes) ?? 0;
        if (found == 0 && remote is null) return;
        seq.TierHashes = hashes;
        seq.TierFirstBlock = inRam;
        seq.TierStaging = RentStaging(hashes.Length * cache.Layout.BlockBytes);
        // One hop to the pool for the whole read: opening files and sending MGETs never happen on the engine thread.
        var (tier, tierRemote, prompt, stage, blockBytes) = (ssd, remote, seq.Request.PromptTokens, seq.TierStaging, (int)cache.Layout.BlockBytes);
        var read = Task.Run(() => ReadTiersAsync(tier, tierRemote, prompt, inRam, parent, hashes, found, stage, blockBytes));
        seq.TierRead = read;
        read.ContinueWith(signal, wakeup, TaskScheduler.Default);
    }

    /// <summary>The chain past RAM: SSD blocks <c>[0, found)</c>, then Redis from the first block SSD did not give.
    /// Completes only after every write into <paramref name="stagingBuffer"/> has.</summary>
    static async Task<TierReadResult> ReadTiersAsync(SsdKvTier? ssd, RemoteKvTier? remote, int[] prompt, int first, UInt128 parent,
        UInt128[] hashes, int found, byte[] stagingBuffer, int blockBytes)
    {
        int fromSsd = 0;
        if (found > 0)
        {
            try
            {
                fromSsd = await ssd!.ReadChainAsync(prompt, first, parent, hashes.AsMemory(0, found), stagingBuffer).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                fromSsd = 0;
            }
        }
        if (remote is null || fromSsd == hashes.Length) return new TierReadResult(fromSsd, 0);
        UInt128 remoteParent = fromSsd == 0 ? parent : hashes[fromSsd - 1];
        int fromRemote = await remote.FetchChainAsync(prompt, first + fromSsd, remoteParent, hashes.AsMemory(fromSsd),
            stagingBuffer.AsMemory(fromSsd * blockBytes)).ConfigureAwait(false);
        return new TierReadResult(fromSsd, fromRemote);
    }

    /// <summary>Moves blocks read from the SSD and remote tiers into the RAM pool (and the sequence's chain), once the
    /// read is done.</summary>
    public void AdoptTierBlocks(Sequence seq)
    {
        if (seq.TierRead is not { } read || cache is null) return;
        var result = read.IsCompletedSuccessfully ? read.Result : default;
        int bs = cache.BlockSize;
        long blockBytes = cache.Layout.BlockBytes;
        // Only a chain that continues exactly where RAM stopped can be adopted.
        if (seq.Blocks.Count == seq.TierFirstBlock)
        {
            for (int j = 0; j < result.Blocks; j++)
            {
                var tokens = seq.Request.PromptTokens.AsSpan((seq.TierFirstBlock + j) * bs, bs);
                if (!cache.TryAdopt(seq.TierHashes![j], tokens, seq.Blocks, out var destination)) break;
                seq.TierStaging.AsSpan((int)(j * blockBytes), destination.Length).CopyTo(destination);
                if (j < result.SsdBlocks) seq.SsdAdoptedBlocks++;
                else seq.RemoteAdoptedBlocks++;
            }
        }
        ReturnStaging(seq);
    }

    /// <summary>A pooled staging buffer of at least <paramref name="bytes"/>, else a new one of exactly that size: a buffer
    /// is sized by the prompt it reads, never by the context (a remote lookup is started for nearly every prompt).</summary>
    byte[] RentStaging(long bytes)
    {
        for (int i = 0; i < staging.Count; i++)
        {
            if (staging[i].Length < bytes) continue;
            var buffer = staging[i];
            staging.RemoveAt(i);
            return buffer;
        }
        return GC.AllocateUninitializedArray<byte>((int)bytes);
    }

    /// <summary>Takes back a sequence's staging buffer (the pool keeps the largest); one a read still writes into is left
    /// to the collector.</summary>
    void ReturnStaging(Sequence seq)
    {
        if (seq.TierStaging is { } buffer && seq.TierRead is { IsCompleted: true })
        {
            if (staging.Count < PooledStaging) staging.Add(buffer);
            else
            {
                int smallest = 0;
                for (int i = 1; i < staging.Count; i++) if (staging[i].Length < staging[smallest].Length) smallest = i;
                if (staging[smallest].Length < buffer.Length) staging[smallest] = buffer;
            }
        }
        seq.TierRead = null;
        seq.TierStaging = null;
        seq.TierHashes = null;
    }

    /// <summary>An engine prefill run of <paramref name="tokens"/> took <paramref name="elapsedTicks"/> (Stopwatch): the
    /// remote tier's fetch-or-recompute decision uses the measured rate.</summary>
    public void ObservePrefill(int tokens, long elapsedTicks) =>
        remote?.Policy.ObservePrefill(tokens, (double)elapsedTicks / Stopwatch.Frequency);

    /// <summary>A sequence ended: its blocks and any staging buffer go back.</summary>
    public void Release(Sequence seq)
    {
        if (seq.TierStaging is not null) ReturnStaging(seq);
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
        remote?.Dispose();
        ssd?.Dispose();
        cache?.Dispose();
    }
}
