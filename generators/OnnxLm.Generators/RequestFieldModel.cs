namespace OnnxLm.Generators
{
    /// <summary>One [JsonField] member, as plain data (no symbols) so the incremental cache can compare it.</summary>
    /// <param name="NestedType">For Object and ObjectList: the element type as it is written in the generated file.</param>
    /// <param name="Unsupported">For [Unsupported] members: the refusal message.</param>
    internal sealed record RequestFieldModel(
        string JsonName,
        string MemberName,
        FieldKind Kind,
        bool IsNullable,
        string? NestedType,
        int MaxLength,
        int MaxItems,
        bool Required,
        string? Unsupported);
}
