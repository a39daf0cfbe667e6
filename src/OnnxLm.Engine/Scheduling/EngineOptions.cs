namespace OnnxLm.Engine.Scheduling;

public sealed class EngineOptions
{
    public required string ModelDirectory { get; init; }
    /// <summary>Slot rows: the most sequences that decode together.</summary>
    public int MaxBatchSize { get; init; } = 8;
    /// <summary>Most prompt tokens one prefill run processes; longer prompts are prefilled in chunks between decode steps.</summary>
    public int PrefillStepSize { get; init; } = 512;
    /// <summary>Most prompt tokens one prefill run processes while other sequences decode (they wait for it); 0 = the
    /// same as <see cref="PrefillStepSize"/>. Off by default: measured with 128-token prompts at c=8, a budget of 128
    /// cost 3 % throughput and made more, shorter stalls (ITL p99 164-188 ms against 44 ms); it pays off when long
    /// prompts would otherwise stall every decoder for a whole <see cref="PrefillStepSize"/> chunk.</summary>
    public int DecodePrefillTokens { get; init; }
    /// <summary>Most requests waiting for a slot; more are refused.</summary>
    public int MaxQueue { get; init; } = 128;
    /// <summary>Context length per sequence; null = the model's.</summary>
    public int? ContextLength { get; init; }
    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }
    /// <summary>After loading, move the weights into transparent huge pages (Linux; see <see cref="Model.HugePages"/>).</summary>
    public bool HugePages { get; init; } = true;
    /// <summary>Keep full KV blocks of finished and running sequences and restore matching prompt prefixes.</summary>
    public bool PrefixCache { get; init; } = true;
    /// <summary>Tokens per cached KV block.</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>Bytes of the block pool; null = <see cref="DefaultCacheMemory"/>.</summary>
    public long? KvCacheMemory { get; init; }
    /// <summary>Bytes for the weights, the prefix cache and every slot's KV at full context; null = what the machine can
    /// spare (<see cref="Memory.MemoryPlan"/>).</summary>
    public long? MemoryBudget { get; init; }
    /// <summary>Where the start-up arithmetic reads the machine's memory; null = <see cref="Memory.SystemMemory.AtStart"/>.
    /// Tests inject a fixed figure.</summary>
    public Memory.IMemoryProbe? MachineMemory { get; init; }
    /// <summary>Block storage: 0 = the model's own KV type (lossless), 8 = int8 with a scale per group.</summary>
    public int KvBits { get; init; }
    /// <summary>Values per int8 scale.</summary>
    public int KvGroupSize { get; init; } = 64;
    /// <summary>Keep evicted (or, with <see cref="SsdWriteThrough"/>, all committed) blocks on disk across restarts.</summary>
    public bool SsdCache { get; init; } = true;
    /// <summary>Root of the SSD tier; null = the platform cache directory (<see cref="Cache.Ssd.SsdKvTier.DefaultDirectory"/>).</summary>
    public string? KvCacheDir { get; init; }
    /// <summary>Write every committed block to disk, not only those evicted from RAM.</summary>
    public bool SsdWriteThrough { get; init; }
    /// <summary>Blocks unused this long are pruned from disk.</summary>
    public double SsdTtlDays { get; init; } = 7;
    /// <summary>Cap of the SSD tier in bytes; null = a quarter of the free disk space.</summary>
    public long? SsdMaxBytes { get; init; }
    /// <summary>The remote KV tier's Redis (<c>--remote-kv</c>), a third tier under the RAM pool and the SSD tier; null = off.
    /// Needs the prefix cache.</summary>
    public Cache.Remote.RedisEndpoint? RemoteKv { get; init; }
    /// <summary>Fetch remote blocks even when recomputing them measures faster (tests on the tiny model only).</summary>
    public bool RemoteKvAlwaysFetch { get; init; }
    /// <summary>Fields a request omits take the model's recommended sampling values (<see cref="Model.SamplingDefaults"/>);
    /// false = OpenAI's defaults (<c>--sampling-defaults neutral</c>).</summary>
    public bool ModelSamplingDefaults { get; init; } = true;
    /// <summary>A Jinja chat template file that replaces the model's own (<c>--chat-template</c>); null = the model's.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>Where the engine's few operational messages go (SSD tier mode, a stopped writer).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>A fifth of physical memory, at most 8 GiB: room for the weights, the slot rows and everything else.</summary>
    public static long DefaultCacheMemory()
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (total <= 0) total = 8L << 30;
        return Math.Clamp(total / 5, 64L << 20, 8L << 30);
    }

    public string? Validate()
    {
        if (MaxBatchSize is < 1 or > 256) return "--max-batch-size must be between 1 and 256";
        if (PrefillStepSize is < 1 or > 65536) return "--prefill-step-size must be between 1 and 65536";
        if (DecodePrefillTokens is < 0 or > 65536) return "--decode-prefill-tokens must be between 0 and 65536";
        if (MaxQueue is < 1 or > 1_000_000) return "--max-queue must be between 1 and 1000000";
        if (ContextLength is < 2) return "--context-length must be at least 2";
        if (Threads < 0) return "--threads must be 0 (auto) or positive";
        if (BlockSize is < 1 or > 1024) return "--block-size must be between 1 and 1024";
        if (KvCacheMemory is < 0) return "--kv-cache-memory must not be negative";
        if (MemoryBudget is < 0) return "--memory-budget must not be negative";
        if (KvBits is not (0 or 8 or 16 or 32)) return "--kv-bits must be 8, 16 or 32";
        if (KvGroupSize is < 1 or > 65536) return "--kv-group-size must be between 1 and 65536";
        if (SsdTtlDays is <= 0 or > 36500 || double.IsNaN(SsdTtlDays)) return "--ssd-ttl-days must be positive";
        if (SsdMaxBytes is < 0) return "--ssd-max-bytes must not be negative";
        if (SsdCache && !PrefixCache) return null;   // the SSD tier needs the RAM cache; with it off the tier is simply not used
        return null;
    }
}
