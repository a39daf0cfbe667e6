namespace OnnxLm.Generators
{
    /// <summary>Names of the pipeline steps, so tests can check that an unrelated edit leaves them cached.</summary>
    public static class TrackingNames
    {
        public const string Parse = "JsonRequest.Parse";
        public const string Models = "JsonRequest.Models";
        public const string Diagnostics = "JsonRequest.Diagnostics";

        public const string StorageParse = "StructOfArrays.Parse";
        public const string StorageModels = "StructOfArrays.Models";
        public const string StorageDiagnostics = "StructOfArrays.Diagnostics";
    }
}
