using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using OnnxLm.Generators;

namespace OnnxLm.Tests.Generators;

public class StructOfArraysGeneratorTests
{
    const string Block = """
        using System;
        using OnnxLm.Engine.Cache;

        namespace Demo.Cache;

        public enum Tier : byte { None, Ram, Ssd }

        [StructOfArrays("BlockStore")]
        public partial struct Block
        {
            public Block() { }

            public const int Missing = -1;
            public static int Created;

            public UInt128 Hash;
            public int Parent = Missing;
            public int RefCount;
            public long Stamp = 1L << 40;
            public float Score = 0.5f;
            public byte Flags = 3;
            public Tier Tier = Tier.Ram;
            public bool Cached;
            [SpanColumn] public int[]? Tokens;
        }
        """;

    const string GlobalNamespace = """
        using OnnxLm.Engine.Cache;

        [StructOfArrays("Points")]
        public partial struct Point
        {
            public double X;
            public double Y;
        }
        """;

    [Test]
    public async Task Renaming_the_cache_namespace_keeps_generating_the_same_storage()
    {
        // Targets are found by the attribute's name, not its namespace: with [StructOfArrays] and [SpanColumn] declared
        // in Renamed.Storage the same storage is generated (the span column included) and compiles cleanly.
        const string renamedAttributes = """
            namespace Renamed.Storage
            {
                [System.AttributeUsage(System.AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
                public sealed class StructOfArraysAttribute(string storageName) : System.Attribute
                {
                    public string StorageName { get; } = storageName;
                }

                [System.AttributeUsage(System.AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
                public sealed class SpanColumnAttribute : System.Attribute;
            }
            """;
        var (original, _) = GeneratorHarness.Run(new StructOfArraysGenerator(), Block);
        var (renamed, compileDiagnostics) = GeneratorHarness.Run(new StructOfArraysGenerator(),
            Block.Replace("using OnnxLm.Engine.Cache;", "using Renamed.Storage;", StringComparison.Ordinal), renamedAttributes);

        await Assert.That(renamed.Diagnostics.IsEmpty).IsTrue();
        await Assert.That(compileDiagnostics.Select(d => d.ToString()).ToArray()).IsEmpty();
        await Assert.That(renamed.GeneratedSources.Single().SourceText.ToString())
            .IsEqualTo(original.GeneratedSources.Single().SourceText.ToString());
    }

    static string Source(string name) => name == "Block" ? Block : GlobalNamespace;

    [Test]
    [Arguments("Block")]
    [Arguments("GlobalNamespace")]
    public async Task Generated_storage_matches_the_baseline_and_compiles_cleanly(string name)
    {
        var (run, compileDiagnostics) = GeneratorHarness.Run(new StructOfArraysGenerator(), Source(name));

        await Assert.That(run.Diagnostics.IsEmpty).IsTrue();
        await Assert.That(compileDiagnostics.Select(d => d.ToString()).ToArray()).IsEmpty();
        var generated = run.GeneratedSources.Single();
        string? mismatch = SnapshotFile.Compare(name + "." + generated.HintName.Replace(".g.cs", ".txt", StringComparison.Ordinal), generated.SourceText.ToString());
        await Assert.That(mismatch).IsNull();
    }

    [Test]
    [Arguments("OLG101", "Loose", "[StructOfArrays(\"LooseStore\")] struct Loose { public int A; }")]
    [Arguments("OLG102", "Inner", "partial class Outer { [StructOfArrays(\"InnerStore\")] partial struct Inner { public int A; } }")]
    [Arguments("OLG102", "Generic", "[StructOfArrays(\"GenericStore\")] partial struct Generic<T> { public int A; }")]
    [Arguments("OLG102", "Pair", "[StructOfArrays(\"PairStore\")] partial record struct Pair { public int A; }")]
    [Arguments("OLG103", "Named", "[StructOfArrays(\"not valid\")] partial struct Named { public int A; }")]
    [Arguments("OLG103", "Self", "[StructOfArrays(\"Self\")] partial struct Self { public int A; }")]
    [Arguments("OLG104", "Name", "[StructOfArrays(\"S\")] partial struct R { public string Name; }")]
    [Arguments("OLG104", "Ids", "[StructOfArrays(\"S\")] partial struct R { public int[] Ids; }")]
    [Arguments("OLG104", "Count", "[StructOfArrays(\"S\")] partial struct R { [SpanColumn] public int Count; }")]
    [Arguments("OLG104", "Names", "[StructOfArrays(\"S\")] partial struct R { [SpanColumn] public string[] Names; }")]
    [Arguments("OLG104", "Next", "[StructOfArrays(\"S\")] unsafe partial struct R { public int* Next; }")]
    [Arguments("OLG105", "Seed", "[StructOfArrays(\"S\")] partial struct R { public R() { } public int Seed = System.Environment.ProcessorCount; }")]
    [Arguments("OLG106", "Count", "[StructOfArrays(\"S\")] partial struct R { public int Count { get; set; } }")]
    [Arguments("OLG107", "Capacity", "[StructOfArrays(\"S\")] partial struct R { public int Capacity; }")]
    [Arguments("OLG107", "HashColumn", "[StructOfArrays(\"S\")] partial struct R { public int Hash; public int HashColumn; }")]
    [Arguments("OLG108", "Empty", "[StructOfArrays(\"S\")] partial struct Empty { public const int A = 1; }")]
    public async Task Bad_records_are_reported_at_the_offending_symbol(string id, string locationText, string declaration)
    {
        string source = "using OnnxLm.Engine.Cache;\nnamespace Demo;\n" + declaration;
        var (run, _) = GeneratorHarness.Run(new StructOfArraysGenerator(), source);

        var diagnostic = run.Diagnostics.Single();
        await Assert.That(diagnostic.Id).IsEqualTo(id);
        await Assert.That(diagnostic.Severity).IsEqualTo(DiagnosticSeverity.Error);
        var location = diagnostic.Location;
        await Assert.That(location.GetLineSpan().Path).IsEqualTo("Source0.cs");
        await Assert.That(source.Substring(location.SourceSpan.Start, location.SourceSpan.Length)).IsEqualTo(locationText);
        await Assert.That(run.GeneratedSources.IsEmpty).IsTrue().Because("a record with errors gets no half-generated storage");
    }

    static readonly string[] StepNames = [TrackingNames.StorageParse, TrackingNames.StorageModels, TrackingNames.StorageDiagnostics];

    static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorRunResult run, string step)
        => run.TrackedSteps.TryGetValue(step, out var steps) ? steps.SelectMany(s => s.Outputs).Select(o => o.Reason) : [];

    static IEnumerable<IncrementalStepRunReason> OutputReasons(GeneratorRunResult run)
        => run.TrackedOutputSteps.SelectMany(kv => kv.Value).SelectMany(s => s.Outputs).Select(o => o.Reason);

    static bool IsReused(IncrementalStepRunReason reason) => reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged;

    static GeneratorRunResult RunEdited(string original, Func<string, string> edit, out GeneratorRunResult first)
    {
        var compilation = GeneratorHarness.Compile(original);
        var driver = GeneratorHarness.CreateDriver(new StructOfArraysGenerator()).RunGenerators(compilation);
        first = driver.GetRunResult().Results.Single();
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(edit(original))));
        return driver.RunGenerators(edited).GetRunResult().Results.Single();
    }

    [Test]
    public async Task Adding_an_unrelated_file_leaves_every_step_cached()
    {
        var compilation = GeneratorHarness.Compile(Block);
        var driver = GeneratorHarness.CreateDriver(new StructOfArraysGenerator()).RunGenerators(compilation);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int X; }", GeneratorHarness.ParseOptions, path: "Other.cs"));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in StepNames)
            await Assert.That(Reasons(run, step).All(IsReused)).IsTrue().Because(step);
        await Assert.That(Reasons(run, TrackingNames.StorageModels).Count()).IsEqualTo(1);
        await Assert.That(OutputReasons(run).All(IsReused)).IsTrue();
    }

    [Test]
    public async Task Comment_and_method_edits_in_the_record_reuse_the_model()
    {
        var run = RunEdited(Block, s => s.Replace("public bool Cached;", "// cached or free\n    public bool Cached;\n    public override string ToString() => \"block\";", StringComparison.Ordinal), out _);

        // The parser re-ran on the edited tree (not Cached) but produced an equal model (Unchanged), so nothing downstream ran.
        await Assert.That(Reasons(run, TrackingNames.StorageParse).Single()).IsEqualTo(IncrementalStepRunReason.Unchanged);
        await Assert.That(IsReused(Reasons(run, TrackingNames.StorageModels).Single())).IsTrue();
        await Assert.That(OutputReasons(run).All(IsReused)).IsTrue();
    }

    [Test]
    public async Task Changing_a_field_default_regenerates_the_storage()
    {
        var run = RunEdited(Block, s => s.Replace("Parent = Missing", "Parent = -2", StringComparison.Ordinal), out var first);

        await Assert.That(Reasons(run, TrackingNames.StorageModels).Single()).IsEqualTo(IncrementalStepRunReason.Modified);
        await Assert.That(first.GeneratedSources.Single().SourceText.ToString()).Contains("_parent.AsSpan().Fill(-1);");
        await Assert.That(run.GeneratedSources.Single().SourceText.ToString()).Contains("_parent.AsSpan().Fill(-2);");
    }

    /// <summary>
    /// Emits the generated storage with and without DEBUG and drives it through reflection: both hand out refs into the
    /// columns, Reset restores the initializers, and only the Debug build checks the index.
    /// </summary>
    [Test]
    [Arguments(true)]
    [Arguments(false)]
    public async Task Debug_builds_check_the_index_and_both_builds_store_by_record(bool debug)
    {
        var parse = GeneratorHarness.ParseOptions.WithPreprocessorSymbols(debug ? new[] { "DEBUG" } : Array.Empty<string>());
        var compilation = GeneratorHarness.Compile(Block).WithOptions(new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, optimizationLevel: debug ? OptimizationLevel.Debug : OptimizationLevel.Release));
        compilation = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(), CSharpSyntaxTree.ParseText(Block, parse, path: "Source0.cs"));
        CSharpGeneratorDriver.Create([new StructOfArraysGenerator().AsSourceGenerator()], parseOptions: parse)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        await Assert.That(emitted.Success).IsTrue().Because(string.Join("\n", emitted.Diagnostics));

        var context = new AssemblyLoadContext("soa-" + debug, isCollectible: true);
        try
        {
            image.Position = 0;
            var type = context.LoadFromStream(image).GetType("Demo.Cache.BlockStore")!;
            object store = Activator.CreateInstance(type, 4, 16)!;
            object? Call(string method, params object[] args)
            {
                try { return type.GetMethod(method)!.Invoke(store, args); }
                catch (TargetInvocationException e) { throw e.InnerException!; }
            }
            int[] parents = (int[])type.GetProperty("ParentColumn")!.GetValue(store)!;
            int[] tokens = (int[])type.GetProperty("TokensColumn")!.GetValue(store)!;

            await Assert.That(parents).IsEquivalentTo(new[] { -1, -1, -1, -1 }).Because("the constructor applies field initializers");
            await Assert.That(tokens.Length).IsEqualTo(64);
            parents[2] = 7;
            tokens[2 * 16 + 5] = 99;
            await Assert.That((int)Call("Parent", 2)!).IsEqualTo(7).Because("the accessor reads the column");
            Call("Reset", 2);
            await Assert.That(parents[2]).IsEqualTo(-1);
            await Assert.That(tokens[2 * 16 + 5]).IsEqualTo(0);
            // [Conditional("DEBUG")] drops the check at the call site, so a Release accessor is only the array access.
            await Assert.That(CallsMethod(type.GetMethod("Parent")!, "CheckIndex")).IsEqualTo(debug);
            if (debug) await Assert.That(() => Call("Parent", 4)).Throws<ArgumentOutOfRangeException>();
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>Whether the IL of <paramref name="method"/> has a <c>call</c> to a method named <paramref name="callee"/>.</summary>
    static bool CallsMethod(MethodInfo method, string callee)
    {
        byte[] il = method.GetMethodBody()!.GetILAsByteArray()!;
        for (int i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] != 0x28) continue;   // call <token>
            try
            {
                if (method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1))?.Name == callee) return true;
            }
            catch (ArgumentException)
            {
                // 0x28 was an operand byte, not an opcode.
            }
        }
        return false;
    }
}
