using Microsoft.CodeAnalysis;

namespace OnnxLm.Generators
{
    /// <summary>A diagnostic as cacheable data; turned into a Roslyn <see cref="Diagnostic"/> only when reported.</summary>
    internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
    {
        public Diagnostic ToDiagnostic()
        {
            var args = new object[Arguments.Length];
            for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
            return Diagnostic.Create(Descriptor, Location?.ToLocation(), args);
        }
    }
}
