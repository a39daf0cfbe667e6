namespace OnnxLm.Generators
{
    /// <summary>A [JsonRequest] type, as plain data: everything the emitter needs and nothing from Roslyn.</summary>
    /// <param name="Namespace">Empty for the global namespace.</param>
    /// <param name="SupportNamespace">Where the [JsonRequest] attribute and the value readers live (empty: global).</param>
    internal sealed record RequestTypeModel(
        string Namespace,
        string SupportNamespace,
        string Name,
        string HintName,
        EquatableArray<RequestFieldModel> Fields);
}
