namespace OnnxLm.Generators
{
    /// <summary>One field of a [StructOfArrays] record, as plain data (no symbols) so the incremental cache can compare it.</summary>
    /// <param name="Name">The field name; the accessor keeps it, the backing array is its camelCase form.</param>
    /// <param name="TypeName">The element type, fully qualified (global::) or a C# keyword.</param>
    /// <param name="IsSpan">A [SpanColumn] T[] field: a runtime-fixed span of <paramref name="TypeName"/> per record.</param>
    /// <param name="DefaultLiteral">The field initializer as a C# literal, or null for default(T).</param>
    internal sealed record ColumnModel(string Name, string TypeName, bool IsSpan, string? DefaultLiteral);
}
