using Microsoft.CodeAnalysis;

namespace OnnxLm.Generators
{
    /// <summary>The errors the struct-of-arrays generator reports on bad record declarations.</summary>
    internal static class StructOfArraysDiagnostics
    {
        const string Category = "OnnxLm.StructOfArrays";

        public static readonly DiagnosticDescriptor NotPartial = new(
            "OLG101", "Struct-of-arrays record must be partial",
            "'{0}' has [StructOfArrays] but is not partial", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor BadTypeShape = new(
            "OLG102", "Struct-of-arrays record must be a top-level, non-generic struct",
            "'{0}' must be a top-level, non-generic struct to have generated storage", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor BadStorageName = new(
            "OLG103", "Invalid storage name",
            "'{0}' is not a valid name for the storage class of '{1}' (a C# identifier different from the record's name)", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor UnsupportedFieldType = new(
            "OLG104", "Unsupported struct-of-arrays field type",
            "'{0}' has type '{1}'; a column must be an unmanaged value type (no references: the point is no per-record objects), or T[] of one marked [SpanColumn]",
            Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor NonConstantDefault = new(
            "OLG105", "Field default must be a constant",
            "'{0}' has an initializer that is not a compile-time constant; Reset(i) can only restore constants", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor NotAField = new(
            "OLG106", "Records declare fields only",
            "'{0}' is an instance property; declare columns as fields", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor ReservedName = new(
            "OLG107", "Field name clashes with a generated member",
            "'{0}' clashes with the generated member '{1}' of the storage class", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor NoFields = new(
            "OLG108", "Record has no fields",
            "'{0}' declares no instance fields, so there is nothing to store", Category, DiagnosticSeverity.Error, true);
    }
}
