using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using OnnxLm.Generators;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Tests.Generators;

/// <summary>Compiles test sources against the running framework plus the server assembly (which holds the attributes and
/// value readers the generated code calls) and runs <see cref="JsonRequestGenerator"/> (or another generator) over them
/// with step tracking.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToHashSet(StringComparer.Ordinal);
        paths.Add(typeof(JsonRequestAttribute).Assembly.Location);
        paths.Add(typeof(OnnxLm.Engine.Cache.StructOfArraysAttribute).Assembly.Location);
        return [.. paths.Where(p => p.EndsWith(".dll", StringComparison.Ordinal)).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    });

    public static CSharpCompilation Compile(params string[] sources)
        => CSharpCompilation.Create(
            "GeneratorTest",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver() => CreateDriver(new JsonRequestGenerator());

    public static GeneratorDriver CreateDriver(IIncrementalGenerator generator)
        => CSharpGeneratorDriver.Create(
            [generator.AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns its result and the compilation's own diagnostics (warnings and errors)
    /// after the generated sources were added.</summary>
    public static (GeneratorRunResult Run, ImmutableArray<Diagnostic> CompileDiagnostics) Run(params string[] sources)
        => Run(new JsonRequestGenerator(), sources);

    public static (GeneratorRunResult Run, ImmutableArray<Diagnostic> CompileDiagnostics) Run(IIncrementalGenerator generator, params string[] sources)
    {
        var driver = CreateDriver(generator).RunGeneratorsAndUpdateCompilation(Compile(sources), out var output, out _);
        var diagnostics = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToImmutableArray();
        return (driver.GetRunResult().Results.Single(), diagnostics);
    }
}
