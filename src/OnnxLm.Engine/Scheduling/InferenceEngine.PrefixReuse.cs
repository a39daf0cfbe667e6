using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

public sealed partial class InferenceEngine
{
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

    bool HasCachedPrefix(Sequence seq) => LookupBlocks(seq) > 0 || BestResidentRow(seq, out _) > 0;

    /// <summary>
    /// Places <paramref name="seq"/> in row decodeCount with as much of its prompt's KV as the cache can give: a free row
    /// that already holds the prefix (reused in place, or copied when it is another row) or the block chain (copied in).
    /// False when nothing is cached for it.
    /// </summary>
    bool ReuseCachedPrefix(Sequence seq)
    {
        int blocks = LookupBlocks(seq);
        int resident = BestResidentRow(seq, out int residentRow);
        int target = decodeCount;
        if (resident == 0 && blocks == 0) return false;
        if (resident >= blocks)
        {
            if (residentRow != target) runner.CopyRow(residentRow, target, resident);
            seq.Length = resident;
        }
        else
        {
            cache!.Restore(target, seq.Blocks, seq.Blocks.Count);
            seq.Length = blocks;
        }
        SetResident(target, null, 0);
        seq.Row = target;
        seq.CachedTokens = seq.Length;
        Interlocked.Add(ref cachedPromptTokensTotal, seq.Length);
        return true;
    }

    /// <summary>Commits every whole block of the sequence's KV not yet in its chain (stops at the first that cannot be).</summary>
    void CommitBlocks(Sequence seq)
    {
        if (cache is null) return;
        int bs = cache.BlockSize;
        for (int j = seq.Blocks.Count; (j + 1) * bs <= seq.Length; j++)
        {
            if (!cache.Commit(seq.Row, j, seq.Tokens.AsSpan(j * bs, bs), seq.Blocks)) break;
            if (ssd is not null && options.SsdWriteThrough)
            {
                int b = seq.Blocks[^1];
                ssd.TryEnqueueWrite(cache.HashOf(b), cache.ParentHashOf(b), cache.TokensOf(b), cache.BlockBytes(b));
            }
        }
    }

    /// <summary>
    /// When a request arrives: look its prompt up in RAM, and if the chain goes on in the SSD tier, start reading those
    /// blocks on the thread pool right away, so they are in memory by the time the request gets a row.
    /// </summary>
    void StartSsdRead(Sequence seq)
    {
        if (ssd is null || cache is null) return;
        int bs = cache.BlockSize;
        int max = (seq.PromptLength - 1) / bs;
        int inRam = LookupBlocks(seq) / bs;
        if (inRam >= max) return;
        UInt128 parent = inRam == 0 ? default : cache.HashOf(seq.Blocks[^1]);
        var hashes = new UInt128[max - inRam];
        int found = ssd.LookupChain(seq.Request.PromptTokens, inRam, parent, max - inRam, hashes);
        if (found == 0) return;
        seq.SsdHashes = hashes[..found];
        seq.SsdFirstBlock = inRam;
        seq.SsdStaging = GC.AllocateUninitializedArray<byte>((int)Math.Min(int.MaxValue, found * cache.Layout.BlockBytes));
        int fit = (int)(seq.SsdStaging.Length / cache.Layout.BlockBytes);
        if (fit < found) seq.SsdHashes = seq.SsdHashes[..fit];
        var read = ssd.ReadChainAsync(seq.Request.PromptTokens, inRam, parent, seq.SsdHashes, seq.SsdStaging);
        seq.SsdRead = read;
        read.ContinueWith(static (_, state) => ((EngineWakeup)state!).Signal(), wakeup, TaskScheduler.Default);
    }

    /// <summary>Moves blocks read from the SSD tier into the RAM pool (and the sequence's chain), once the read is done.</summary>
    void AdoptSsdBlocks(Sequence seq)
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
        seq.SsdRead = null;
        seq.SsdStaging = null;
        seq.SsdHashes = null;
    }

    void ReleaseBlocks(Sequence seq)
    {
        if (cache is not null && seq.Blocks.Count > 0) cache.ReleaseAll(seq.Blocks);
    }

    /// <summary>Test hook (engine idle only): restores the cached blocks of a prompt into a row; returns the positions restored.</summary>
    internal int RestoreForTest(int[] prompt, int row)
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
    static void PersistCachedBlocks(SsdKvTier ssd, PrefixCache cache, TimeSpan budget)
    {
        if (ssd.Mode != SsdTierMode.ReadWrite) return;
        var deadline = DateTime.UtcNow + budget;
        cache.SpillAll((hash, parent, tokens, bytes) =>
        {
            while (!ssd.TryEnqueueWrite(hash, parent, tokens, bytes))
            {
                if (ssd.WritingStopped || DateTime.UtcNow > deadline) return false;
                Thread.Sleep(1);
            }
            return true;
        });
    }
}
