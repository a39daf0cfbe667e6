using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using OnnxLm.Generators;

namespace OnnxLm.Tests.Generators;

public class JsonRequestGeneratorTests
{
    const string Scalars = """
        using OnnxLm.Http.Parsing;

        namespace Demo;

        [JsonRequest]
        public sealed partial class SamplingRequest
        {
            [JsonField("temperature")] public float? Temperature { get; set; }
            [JsonField("seed")] public long? Seed { get; set; }
            [JsonField("scale")] public double Scale;
            [JsonField("n", Required = true)] public int N { get; set; }
            [JsonField("echo")] public bool Echo { get; set; }
        }
        """;

    const string NestedAndLists = """
        using OnnxLm.Http.Parsing;

        namespace Demo.Chat;

        [JsonRequest]
        public sealed partial class Turn
        {
            [JsonField("role", MaxLength = 16, Required = true)] public Utf8Slice Role { get; set; }
            [JsonField("content", MaxItems = 8)] public TextContent Content { get; } = new();
        }

        [JsonRequest]
        public sealed partial class Options
        {
            [JsonField("verbose")] public bool Verbose { get; set; }
        }

        [JsonRequest]
        public sealed partial class Conversation
        {
            [JsonField("turns", Required = true, MaxItems = 64)] public PooledList<Turn> Turns { get; } = new();
            [JsonField("options")] public Options? Options { get; set; }
            [JsonField("stop", MaxItems = 4, MaxLength = 32)] public Utf8SliceList Stop { get; } = new();
            [JsonField("tool_choice")] public RawJson ToolChoice { get; set; }
            [JsonField("audio"), Unsupported("is not supported")] public RawJson Audio { get; set; }
        }
        """;

    const string GlobalNamespace = """
        using OnnxLm.Http.Parsing;

        [JsonRequest]
        internal partial class LegacyCompletion
        {
            [JsonField("prompt", Required = true)] public PromptInput Prompt { get; } = new();
            [JsonField("logit_bias", MaxItems = 100)] public TokenBiasMap LogitBias { get; } = new();
        }
        """;

    /// <summary>The attributes the server declares in OnnxLm.Http.Parsing, declared instead in another namespace.</summary>
    const string RenamedSupport = """
        namespace Renamed.Wire
        {
            [System.AttributeUsage(System.AttributeTargets.Class, Inherited = false)]
            public sealed class JsonRequestAttribute : System.Attribute;

            [System.AttributeUsage(System.AttributeTargets.Property | System.AttributeTargets.Field, Inherited = false)]
            public sealed class JsonFieldAttribute(string name) : System.Attribute
            {
                public string Name { get; } = name;
                public int MaxLength { get; set; }
                public int MaxItems { get; set; }
                public bool Required { get; set; }
            }
        }
        """;

    [Test]
    public async Task Renaming_the_parsing_namespace_keeps_generating_the_same_parser()
    {
        // Targets are found by the attribute's name, not its namespace: with the attributes moved to Renamed.Wire the
        // parser is still generated, identical but for the using of the namespace that now holds them.
        var (original, _) = GeneratorHarness.Run(Scalars);
        var (renamed, _) = GeneratorHarness.Run(Scalars.Replace("using OnnxLm.Http.Parsing;", "using Renamed.Wire;", StringComparison.Ordinal), RenamedSupport);

        await Assert.That(renamed.Diagnostics.IsEmpty).IsTrue();
        await Assert.That(renamed.GeneratedSources.Length).IsEqualTo(1);
        string expected = original.GeneratedSources.Single().SourceText.ToString()
            .Replace("using OnnxLm.Http.Parsing;", "using Renamed.Wire;", StringComparison.Ordinal);
        await Assert.That(renamed.GeneratedSources.Single().SourceText.ToString()).IsEqualTo(expected);
    }

    [Test]
    [Arguments("Scalars")]
    [Arguments("NestedAndLists")]
    [Arguments("GlobalNamespace")]
    public async Task Generated_source_matches_the_baseline_and_compiles_cleanly(string name)
    {
        string source = name switch { "Scalars" => Scalars, "NestedAndLists" => NestedAndLists, _ => GlobalNamespace };
        var (run, compileDiagnostics) = GeneratorHarness.Run(source);

        await Assert.That(run.Diagnostics.IsEmpty).IsTrue();
        await Assert.That(compileDiagnostics.Select(d => d.ToString()).ToArray()).IsEmpty();
        await Assert.That(run.GeneratedSources.Length).IsGreaterThan(0);
        foreach (var generated in run.GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal))
        {
            string? mismatch = SnapshotFile.Compare(name + "." + generated.HintName.Replace(".g.cs", ".txt", StringComparison.Ordinal), generated.SourceText.ToString());
            await Assert.That(mismatch).IsNull();
        }
    }

    [Test]
    [Arguments("OLG001", "NotPartial", "[JsonRequest] public class NotPartial { [JsonField(\"a\")] public int A { get; set; } }")]
    [Arguments("OLG002", "Inner", "public partial class Outer { [JsonRequest] public partial class Inner { } }")]
    [Arguments("OLG002", "Generic", "[JsonRequest] public partial class Generic<T> { }")]
    [Arguments("OLG003", "Name", "[JsonRequest] public partial class Bad { [JsonField(\"name\")] public string? Name { get; set; } }")]
    [Arguments("OLG003", "Items", "[JsonRequest] public partial class Bad { [JsonField(\"items\")] public PooledList<Plain> Items { get; } = new(); } public class Plain { }")]
    [Arguments("OLG004", "Count", "[JsonRequest] public partial class Bad { [JsonField(\"count\"), Unsupported(\"no\")] public int Count { get; set; } }")]
    [Arguments("OLG005", "Seed", "[JsonRequest] public partial class Bad { [JsonField(\"seed\")] public long? Seed { get; init; } }")]
    [Arguments("OLG006", "B", "[JsonRequest] public partial class Bad { [JsonField(\"x\")] public int A { get; set; } [JsonField(\"x\")] public int B { get; set; } }")]
    public async Task Bad_declarations_are_reported_at_the_offending_symbol(string id, string locationText, string declaration)
    {
        string source = "using OnnxLm.Http.Parsing;\nnamespace Demo;\n" + declaration;
        var (run, _) = GeneratorHarness.Run(source);

        var diagnostic = run.Diagnostics.Single();
        await Assert.That(diagnostic.Id).IsEqualTo(id);
        await Assert.That(diagnostic.Severity).IsEqualTo(DiagnosticSeverity.Error);
        // The model keeps file path + span (not the SyntaxTree), so the location is a file location, not a tree one.
        var location = diagnostic.Location;
        await Assert.That(location.GetLineSpan().Path).IsEqualTo("Source0.cs");
        await Assert.That(source.Substring(location.SourceSpan.Start, location.SourceSpan.Length)).IsEqualTo(locationText);
        await Assert.That(location.GetLineSpan().StartLinePosition.Line).IsEqualTo(2);
        await Assert.That(run.GeneratedSources.IsEmpty).IsTrue().Because("a type with errors gets no half-generated parser");
    }

    [Test]
    public async Task Too_many_fields_are_reported()
    {
        string fields = string.Concat(Enumerable.Range(0, 65).Select(i => $"[JsonField(\"f{i}\")] public int F{i} {{ get; set; }}\n"));
        var (run, _) = GeneratorHarness.Run("using OnnxLm.Http.Parsing;\n[JsonRequest] public partial class Wide {\n" + fields + "}");
        await Assert.That(run.Diagnostics.Single().Id).IsEqualTo("OLG007");
    }

    static readonly string[] StepNames = [TrackingNames.Parse, TrackingNames.Models, TrackingNames.Diagnostics];

    static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorRunResult run, string step)
        => run.TrackedSteps.TryGetValue(step, out var steps) ? steps.SelectMany(s => s.Outputs).Select(o => o.Reason) : [];

    static IEnumerable<IncrementalStepRunReason> OutputReasons(GeneratorRunResult run)
        => run.TrackedOutputSteps.SelectMany(kv => kv.Value).SelectMany(s => s.Outputs).Select(o => o.Reason);

    static bool IsReused(IncrementalStepRunReason reason) => reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged;

    [Test]
    public async Task Adding_an_unrelated_file_leaves_every_step_cached()
    {
        var compilation = GeneratorHarness.Compile(NestedAndLists);
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int X; }", GeneratorHarness.ParseOptions, path: "Other.cs"));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in StepNames)
            await Assert.That(Reasons(run, step).All(IsReused)).IsTrue().Because(step);
        await Assert.That(Reasons(run, TrackingNames.Models).Count()).IsEqualTo(3);
        await Assert.That(OutputReasons(run).All(IsReused)).IsTrue();
    }

    [Test]
    public async Task Whitespace_and_comment_edits_in_the_declaration_reuse_the_model()
    {
        var compilation = GeneratorHarness.Compile(NestedAndLists);
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(NestedAndLists.Replace("public sealed partial class Options", "// options\n\n    public sealed partial class Options", StringComparison.Ordinal))));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        await Assert.That(Reasons(run, TrackingNames.Models).All(IsReused)).IsTrue();
        await Assert.That(Reasons(run, TrackingNames.Models).Count()).IsEqualTo(3);
        await Assert.That(OutputReasons(run).All(IsReused)).IsTrue();
    }

    [Test]
    public async Task Renaming_a_json_field_regenerates_that_type()
    {
        var compilation = GeneratorHarness.Compile(NestedAndLists);
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(NestedAndLists.Replace("\"verbose\"", "\"debug\"", StringComparison.Ordinal))));
        var run = driver.RunGenerators(edited).GetRunResult().Results.Single();

        await Assert.That(Reasons(run, TrackingNames.Models).Count(r => r == IncrementalStepRunReason.Modified)).IsEqualTo(1);
        await Assert.That(run.GeneratedSources.Single(s => s.HintName.Contains("Options", StringComparison.Ordinal)).SourceText.ToString()).Contains("\"debug\"u8");
    }
}
