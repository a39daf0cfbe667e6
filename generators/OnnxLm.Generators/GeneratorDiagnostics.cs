using Microsoft.CodeAnalysis;

namespace OnnxLm.Generators
{
    /// <summary>The errors the JSON request generator reports on bad declarations.</summary>
    internal static class GeneratorDiagnostics
    {
        const string Category = "OnnxLm.JsonRequest";

        public static readonly DiagnosticDescriptor NotPartial = new(
            "OLG001", "JSON request type must be partial",
            "'{0}' has [JsonRequest] but is not partial, so its parser cannot be generated", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor BadTypeShape = new(
            "OLG002", "JSON request type must be a top-level, non-generic, non-abstract class",
            "'{0}' must be a top-level, non-generic, non-static, non-abstract class to have a generated parser", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor UnsupportedMemberType = new(
            "OLG003", "Unsupported JSON field type",
            "'{0}' has type '{1}', which [JsonField] does not support (bool, int, long, float, double and their nullables, Utf8Slice, Utf8SliceList, TextContent, TokenBiasMap, PromptInput, RawJson, a [JsonRequest] class or PooledList of one)",
            Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor UnsupportedNeedsRaw = new(
            "OLG004", "[Unsupported] needs a RawJson member",
            "'{0}' has [Unsupported] but is not a RawJson", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor NotAssignable = new(
            "OLG005", "JSON field cannot be assigned",
            "'{0}' must be an instance member the parser can {1}", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor DuplicateName = new(
            "OLG006", "Duplicate JSON property name",
            "'{0}' uses the JSON name \"{1}\", which another member of the type already uses", Category, DiagnosticSeverity.Error, true);

        public static readonly DiagnosticDescriptor TooManyFields = new(
            "OLG007", "Too many JSON fields",
            "'{0}' has {1} [JsonField] members; the generated parser tracks duplicates in a 64-bit mask, so at most 64 are allowed",
            Category, DiagnosticSeverity.Error, true);
    }
}
