namespace OnnxLm.Engine.Scheduling;

public sealed class EngineOptions
{
    public required string ModelDirectory { get; init; }
    /// <summary>Slot rows: the most sequences that decode together.</summary>
    public int MaxBatchSize { get; init; } = 8;
    /// <summary>Most prompt tokens one prefill run processes; longer prompts are prefilled in chunks between decode steps.</summary>
    public int PrefillStepSize { get; init; } = 512;
    /// <summary>Most requests waiting for a slot; more are refused.</summary>
    public int MaxQueue { get; init; } = 128;
    /// <summary>Context length per sequence; null = the model's.</summary>
    public int? ContextLength { get; init; }
    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }

    public string? Validate()
    {
        if (MaxBatchSize is < 1 or > 256) return "--max-batch-size must be between 1 and 256";
        if (PrefillStepSize is < 1 or > 65536) return "--prefill-step-size must be between 1 and 65536";
        if (MaxQueue is < 1 or > 1_000_000) return "--max-queue must be between 1 and 1000000";
        if (ContextLength is < 2) return "--context-length must be at least 2";
        if (Threads < 0) return "--threads must be 0 (auto) or positive";
        return null;
    }
}
