namespace OnnxLm.Engine.Memory;

/// <summary>What <see cref="MemoryPlan.Compute"/> sizes: the serve options that take memory, as the user gave them
/// (null = choose).</summary>
public sealed record MemoryPlanRequest
{
    public required int Slots { get; init; }
    public required int PrefillStepSize { get; init; }
    /// <summary>Explicit <c>--context-length</c>; null = the model's, capped by the budget.</summary>
    public int? ContextLength { get; init; }
    /// <summary>Explicit <c>--memory-budget</c>; null = what the machine can spare (<see cref="MemoryPlan.Reserve"/>).</summary>
    public long? BudgetBytes { get; init; }
    public bool PrefixCache { get; init; }
    /// <summary>Explicit <c>--kv-cache-memory</c>; null = the default pool size, shrunk to fit the budget.</summary>
    public long? PrefixCacheBytes { get; init; }
    /// <summary>The default pool size before the budget is applied (a fifth of RAM, at most 8 GiB).</summary>
    public long DefaultPrefixCacheBytes { get; init; }
    /// <summary>Bytes of one prefix-cache block (the pool's unit).</summary>
    public long PrefixBlockBytes { get; init; }
}
