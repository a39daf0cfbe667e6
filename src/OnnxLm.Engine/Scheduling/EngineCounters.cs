using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Remote;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// The engine's counters and the <see cref="EngineStatistics"/> snapshots built from them. The engine thread writes the
/// counters (with <see cref="Interlocked"/>, so the live properties of <see cref="InferenceEngine"/> read whole values;
/// <see cref="Pending"/> also moves on submitting threads) and is the only thread that builds a snapshot, because the
/// prefix cache's own counters are engine-thread state. A snapshot is published before any request's final event, after
/// a step when a reader asked for one (<see cref="Request"/>), and on an idle pass when something changed: a steady decode
/// step nobody watches builds none, so it still allocates nothing.
/// </summary>
internal sealed class EngineCounters(PrefixCache? cache, SsdKvTier? ssd, RemoteKvTier? remote)
{
    public int Pending;             // submitted, not yet given a row (bounded by MaxQueue)
    public int Active;              // holding a row: decoding, prefilling, or an n-group waiting to be forked
    public int Unfinished;          // Active plus finished sequences whose events still wait for ring room
    public long Steps, PromptTokens, CachedPromptTokens, GeneratedTokens;
    public long CachedPoolTokens, CachedSsdTokens, CachedRemoteTokens;   // CachedPromptTokens by the tier the KV came from

    EngineStatistics latest = new();
    int requested;

    public EngineStatistics Latest => Volatile.Read(ref latest);

    /// <summary>
    /// Any thread: asks the engine thread for a fresh snapshot and waits for it up to <paramref name="wait"/> (the rest of
    /// a step); returns the latest one either way.
    /// </summary>
    public EngineStatistics Request(EngineWakeup wakeup, TimeSpan wait)
    {
        var seen = Latest;
        Volatile.Write(ref requested, 1);
        wakeup.Signal();
        long deadline = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        var spin = new SpinWait();
        while (ReferenceEquals(Latest, seen) && Stopwatch.GetTimestamp() < deadline) spin.SpinOnce(sleep1Threshold: 10);
        return Latest;
    }

    /// <summary>After a step: publishes when a reader asked.</summary>
    public void PublishIfRequested()
    {
        if (Volatile.Read(ref requested) != 0) Publish();
    }

    /// <summary>On an idle pass: publishes when a reader asked or anything changed since the last snapshot.</summary>
    public void PublishIfChanged()
    {
        if (Volatile.Read(ref requested) != 0)
        {
            Publish();
            return;
        }
        var last = latest;
        if (last.Steps == Interlocked.Read(ref Steps) && last.GeneratedTokensTotal == Interlocked.Read(ref GeneratedTokens)
            && last.WaitingRequests == Volatile.Read(ref Pending) && last.ActiveSequences == Volatile.Read(ref Active)
            && (ssd is null || (last.Ssd is { } s && s.BlocksWritten == ssd.BlocksWritten && s.BlocksRead == ssd.BlocksRead
                && s.PrunedBlocks == ssd.PrunedBlocks && s.WritesDropped == ssd.WritesDropped))
            && (remote is null || (last.Remote is { } r && r.Gets == remote.Gets && r.Errors == remote.Errors && r.BlocksWritten == remote.BlocksWritten
                && r.WritesDropped == remote.WritesDropped && r.Skipped == remote.Skipped && r.Breaker == remote.Breaker.State && r.Connected == remote.Connected)))
            return;
        Publish();
    }

    /// <summary>Builds and publishes a snapshot now (engine thread only).</summary>
    public void Publish()
    {
        Volatile.Write(ref requested, 0);
        var snapshot = new EngineStatistics
        {
            ActiveSequences = Volatile.Read(ref Active),
            WaitingRequests = Volatile.Read(ref Pending),
            Steps = Interlocked.Read(ref Steps),
            PromptTokensTotal = Interlocked.Read(ref PromptTokens),
            CachedPromptTokensTotal = Interlocked.Read(ref CachedPromptTokens),
            CachedPoolTokensTotal = Interlocked.Read(ref CachedPoolTokens),
            CachedSsdTokensTotal = Interlocked.Read(ref CachedSsdTokens),
            CachedRemoteTokensTotal = Interlocked.Read(ref CachedRemoteTokens),
            GeneratedTokensTotal = Interlocked.Read(ref GeneratedTokens),
            PrefixCache = cache is null ? null
                : new PrefixCacheStatistics(cache.BlocksUsed, cache.BlocksFree, cache.Capacity, cache.QueriedTokens, cache.HitTokens, cache.Evictions),
            Ssd = ssd is null ? null
                : new SsdTierStatistics(ssd.Mode == SsdTierMode.ReadWrite, ssd.BlockCount, ssd.TotalBytes, ssd.MaxBytes, ssd.BlocksWritten,
                    ssd.BlocksRead, ssd.WritesDropped, ssd.CorruptBlocks, ssd.PrunedBlocks, ssd.WritingStopped),
            Remote = remote is null ? null
                : new RemoteTierStatistics(remote.Connected, remote.Breaker.State, remote.Breaker.Opened, remote.Breaker.Closed, remote.Gets,
                    remote.Hits, remote.Misses, remote.Rejects, remote.Errors, remote.Late, remote.Skipped, remote.BlocksWritten,
                    remote.BlocksExisting, remote.WritesDropped, remote.Policy.RoundTripSeconds, remote.Policy.BytesPerSecond,
                    remote.Policy.PrefillTokensPerSecond),
        };
        Volatile.Write(ref latest, snapshot);
    }
}
