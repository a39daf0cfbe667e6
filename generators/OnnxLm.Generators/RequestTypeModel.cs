namespace OnnxLm.Generators
{
    /// <summary>A [JsonRequest] type, as plain data: everything the emitter needs and nothing from Roslyn.</summary>
    /// <param name="Namespace">Empty for the global namespace.</param>
    internal sealed record RequestTypeModel(
        string Namespace,
        string Name,
        string HintName,
        EquatableArray<RequestFieldModel> Fields);
}
