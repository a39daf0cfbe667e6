namespace OnnxLm.Generators
{
    /// <summary>What the parser made of one [JsonRequest] type: a model to emit, or null when a diagnostic forbids it.</summary>
    internal sealed record RequestTypeResult(RequestTypeModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);
}
