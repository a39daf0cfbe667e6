namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// What the engine and its caches have done, as one immutable snapshot the engine thread publishes (see
/// <see cref="InferenceEngine.Statistics"/>): a reader such as <c>/metrics</c> gets values that belong together and never
/// reads engine-thread state. Counters only grow; gauges are as of <see cref="Steps"/>.
/// </summary>
public sealed record EngineStatistics
{
    /// <summary>Sequences holding a KV row (prefilling or decoding).</summary>
    public int ActiveSequences { get; init; }
    /// <summary>Sequences queued for a KV row.</summary>
    public int WaitingRequests { get; init; }
    public long Steps { get; init; }
    public long PromptTokensTotal { get; init; }
    /// <summary>Prompt tokens whose KV came from the prefix cache or a row's resident KV instead of a prefill.</summary>
    public long CachedPromptTokensTotal { get; init; }
    /// <summary><see cref="CachedPromptTokensTotal"/> by where the KV came from: the RAM pool or a resident row, the SSD
    /// tier, the remote tier (Redis).</summary>
    public long CachedPoolTokensTotal { get; init; }
    public long CachedSsdTokensTotal { get; init; }
    public long CachedRemoteTokensTotal { get; init; }
    public long GeneratedTokensTotal { get; init; }

    /// <summary>The RAM prefix cache, or null when it is off.</summary>
    public PrefixCacheStatistics? PrefixCache { get; init; }
    /// <summary>The SSD tier, or null when it is off.</summary>
    public SsdTierStatistics? Ssd { get; init; }
    /// <summary>The remote tier (Redis), or null when it is off.</summary>
    public RemoteTierStatistics? Remote { get; init; }
}

/// <summary>The RAM block pool of the prefix cache (a value inside the snapshot: publishing one allocates one object).</summary>
public readonly record struct PrefixCacheStatistics(int BlocksUsed, int BlocksFree, int Capacity, long QueriedTokens, long HitTokens, long Evictions);

/// <summary>The SSD tier under the prefix cache.</summary>
public readonly record struct SsdTierStatistics(bool Writable, int Blocks, long Bytes, long MaxBytes, long BlocksWritten, long BlocksRead,
    long WritesDropped, long CorruptBlocks, long PrunedBlocks, bool WritingStopped);

/// <summary>The remote tier (Redis) under the SSD tier; the fetch policy's measurements are NaN until measured.</summary>
public readonly record struct RemoteTierStatistics(bool Connected, Cache.Remote.BreakerState Breaker, long BreakerOpened, long BreakerClosed, long Gets,
    long Hits, long Misses, long Rejects, long Errors, long Late, long Skipped, long BlocksWritten, long BlocksExisting, long WritesDropped,
    double RoundTripSeconds, double BytesPerSecond, double PrefillTokensPerSecond);
