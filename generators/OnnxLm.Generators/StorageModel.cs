namespace OnnxLm.Generators
{
    /// <summary>A [StructOfArrays] record and the storage class to emit for it, as plain data.</summary>
    /// <param name="Namespace">Empty for the global namespace.</param>
    /// <param name="Accessibility">"public" or "internal": the record's own accessibility.</param>
    internal sealed record StorageModel(
        string Namespace,
        string RecordName,
        string StorageName,
        string Accessibility,
        string HintName,
        EquatableArray<ColumnModel> Columns);
}
