namespace OnnxLm.Generators
{
    /// <summary>What the parser made of one [StructOfArrays] record: a model to emit, or null when a diagnostic forbids it.</summary>
    internal sealed record StorageResult(StorageModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);
}
