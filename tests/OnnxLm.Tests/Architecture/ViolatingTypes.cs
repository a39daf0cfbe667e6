using OnnxLm.Engine.Model;

// Deliberate violations of the "Text/Cache must not depend on Model" rule, for DependencyDirectionTests to prove that
// the checker sees a dependency in a field and one that exists only inside a method body. Nothing else uses them.
namespace OnnxLm.Tests.Architecture.Violating;

/// <summary>Clean: depends on nothing in the engine.</summary>
internal static class Marker
{
    public static string Namespace => typeof(Marker).Namespace!;
}

internal sealed class HoldsARunner
{
    public ModelRunner? Runner { get; set; }
}

internal static class ChecksAContractInABody
{
    public static bool IsContract(object value) => value is ModelContract;
}
