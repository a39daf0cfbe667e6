namespace OnnxLm.Engine.Cache.Remote;

/// <summary>Settings of one <see cref="RemoteKvTier"/> (one model fingerprint on one Redis database).</summary>
public sealed record RemoteKvOptions
{
    /// <summary>The Redis server (<c>--remote-kv</c>).</summary>
    public required RedisEndpoint Endpoint { get; init; }

    /// <summary><see cref="Model.ModelFingerprint"/> of the model, KV dtype, bits and block size: part of every key.</summary>
    public required UInt128 Fingerprint { get; init; }

    /// <summary>Byte layout of a block, as <see cref="PrefixCache.Layout"/>.</summary>
    public required KvBlockLayout Layout { get; init; }

    /// <summary>Expiry of a written block (Redis evicts sooner under <c>maxmemory</c> with <c>allkeys-lru</c>).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Blocks waiting for the writer; when full the oldest is dropped.</summary>
    public int WriteQueueDepth { get; init; } = 64;

    /// <summary>A lookup not answered within this long is abandoned and the prompt is recomputed.</summary>
    public TimeSpan LookupDeadline { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Keys per MGET; a lookup sends all its MGETs at once (pipelined) and stops at the first miss.</summary>
    public int KeysPerRequest { get; init; } = 8;

    /// <summary>Consecutive errors that open the circuit breaker, and how long it stays open before a probe.</summary>
    public int BreakerThreshold { get; init; } = 3;
    public TimeSpan BreakerOpenFor { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Connect and per-command timeout of the client (an unanswered command counts as an error).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Fetch even when recomputing looks faster (tests on a model so small that recomputing always wins).</summary>
    public bool AlwaysFetch { get; init; }

    /// <summary>Log sink for the few lines the tier writes (connected, lost, breaker changes).</summary>
    public Action<string>? Log { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
