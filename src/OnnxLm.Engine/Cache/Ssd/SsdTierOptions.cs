namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>Settings of one <see cref="SsdKvTier"/> (one model fingerprint under one root directory).</summary>
public sealed record SsdTierOptions
{
    /// <summary>Root directory (<c>--kv-cache-dir</c>); the tier uses the subdirectory named after the fingerprint.</summary>
    public required string Directory { get; init; }

    /// <summary><see cref="ModelFingerprint"/> of the model, KV dtype, bits and block size.</summary>
    public required UInt128 Fingerprint { get; init; }

    /// <summary>Byte layout of a block, as <see cref="PrefixCache.Layout"/>.</summary>
    public required KvBlockLayout Layout { get; init; }

    /// <summary>Blocks unused for longer are deleted (<c>--ssd-ttl-days</c>).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Cap on the bytes of block files (<c>--ssd-max-bytes</c>); null: a quarter of the free disk space at start.</summary>
    public long? MaxBytes { get; init; }

    /// <summary>Blocks copied and waiting for the writer; when all are in use a block is not persisted.</summary>
    public int WriteQueueDepth { get; init; } = 32;

    /// <summary>How often the background thread prunes, saves the index (writer) or rescans (read-only instance).</summary>
    public TimeSpan MaintenanceInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Log sink for the few lines the tier writes (mode, cap, a stopped writer); keeps the engine free of logging deps.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Clock for last use and TTL (tests move it).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
