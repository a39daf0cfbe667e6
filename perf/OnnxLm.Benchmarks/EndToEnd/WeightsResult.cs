using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Everything measured for one weight format; each <see cref="Samples"/> holds one value per repeat.</summary>
public sealed class WeightsResult(WeightFormat weights, string modelDir, long parameters)
{
    public WeightFormat Weights { get; } = weights;
    public string ModelDir { get; } = modelDir;
    public long Parameters { get; } = parameters;
    public double ModelBuildSeconds { get; set; }
    /// <summary>KV bytes one cached position occupies (layers × K and V × kv heads × head size × element size): what
    /// attention reads per position of context in each decode step.</summary>
    public long KvBytesPerPosition { get; init; }
    /// <summary>Bytes of the fp32 embedding table: part of the weight files, but a decode step gathers one row of it,
    /// so it is not part of the bytes streamed per token (docs/PERF.md's limits leave it out the same way).</summary>
    public long EmbeddingBytes { get; init; }

    // (a) single stream: decode tok/s from first to last token, and TTFT.
    public Samples EngineSingle { get; } = new();
    public Samples GenAiSingle { get; } = new();
    public Samples EngineSingleTtftMs { get; } = new();
    public Samples GenAiSingleTtftMs { get; } = new();

    // (b) 8 requests: aggregate output tok/s (arrival to last token) and the median TTFT of the 8, per concurrency.
    public SortedDictionary<int, Samples> EngineThroughput { get; } = [];
    public SortedDictionary<int, Samples> EngineTtftMs { get; } = [];
    public Samples GenAiSequential { get; } = new();
    /// <summary>Median over the 8 of arrival → first token, all arriving at once and served one after another.</summary>
    public Samples GenAiSequentialTtftMs { get; } = new();
    public Samples GenAiStaticBatch { get; } = new();
    public Samples GenAiStaticBatchTtftMs { get; } = new();

    public AllocationResult? Allocation { get; set; }
    public DecodeProfileResult? Profile { get; set; }
    public BatchDecodeProfileResult? BatchProfile { get; set; }

    public string Label => Weights == WeightFormat.Int4 ? "int4" : "fp32";
}
