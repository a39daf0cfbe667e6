using System.Reflection;
using NetArchTest.Rules;
using OnnxLm.Builder;
using OnnxLm.Engine;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Http;

namespace OnnxLm.Tests.Architecture;

/// <summary>
/// Dependencies point one way: Cli parses → Hosting wires → Http → Scheduling → {Model, Sampling, Text, Cache, Memory},
/// Cli and Hosting → Hub (the Hugging Face client) → Model,
/// and the model builder is a part of its own that neither uses the engine nor is used by it. The engine's shared
/// kernel (its root namespace: <see cref="ModelFormatException"/>, <see cref="ISlotRowMemory"/>, native buffers) may be
/// used by every engine folder. Each rule scans the compiled IL (fields, signatures and method bodies).
/// </summary>
public class DependencyDirectionTests
{
    static readonly Assembly EngineAssembly = typeof(InferenceEngine).Assembly;
    static readonly Assembly ServerAssembly = typeof(ServingState).Assembly;
    static readonly Assembly BuilderAssembly = typeof(ModelBuilder).Assembly;

    const string Model = "OnnxLm.Engine.Model", Scheduling = "OnnxLm.Engine.Scheduling", Sampling = "OnnxLm.Engine.Sampling",
        Text = "OnnxLm.Engine.Text", Cache = "OnnxLm.Engine.Cache", Memory = "OnnxLm.Engine.Memory";
    const string Http = "OnnxLm.Http", Hosting = "OnnxLm.Hosting", Cli = "OnnxLm.Cli", Builder = "OnnxLm.Builder";

    /// <summary>Types of <paramref name="layer"/> (and its sub-namespaces) that use any of <paramref name="forbidden"/>, with why.</summary>
    internal static List<string> Violations(Assembly assembly, string layer, params string[] forbidden)
    {
        var result = Types.InAssembly(assembly).That()
            .ResideInNamespaceMatching("^" + System.Text.RegularExpressions.Regex.Escape(layer) + @"(\.|$)")
            .ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        return result.IsSuccessful ? [] : [.. result.FailingTypes.Select(t => $"{t.FullName}: {t.Explanation}")];
    }

    static async Task AssertNone(List<string> violations, string rule) =>
        await Assert.That(violations).IsEmpty().Because($"{rule}; offending types:\n  {string.Join("\n  ", violations)}");

    [Test]
    public async Task Text_depends_on_no_other_engine_folder() =>
        await AssertNone(Violations(EngineAssembly, Text, Model, Scheduling, Sampling, Cache, Memory), "Text must not depend on Model, Scheduling, Sampling, Cache or Memory");

    [Test]
    public async Task Sampling_depends_on_no_other_engine_folder() =>
        await AssertNone(Violations(EngineAssembly, Sampling, Model, Scheduling, Text, Cache, Memory), "Sampling must not depend on Model, Scheduling, Text, Cache or Memory");

    [Test]
    public async Task Cache_copies_kv_through_the_slot_row_abstraction_not_the_runner() =>
        await AssertNone(Violations(EngineAssembly, Cache, Model, Scheduling, Sampling, Text, Memory), "Cache must not depend on Model (ModelRunner included), Scheduling, Sampling, Text or Memory");

    [Test]
    public async Task Model_does_not_depend_on_scheduling_cache_or_text() =>
        await AssertNone(Violations(EngineAssembly, Model, Scheduling, Cache, Text, Memory), "Model must not depend on Scheduling, Cache, Text or Memory");

    [Test]
    public async Task Memory_does_not_depend_on_scheduling() =>
        await AssertNone(Violations(EngineAssembly, Memory, Scheduling, Cache, Text, Sampling), "Memory must not depend on Scheduling, Cache, Text or Sampling");

    [Test]
    public async Task The_engine_knows_nothing_of_the_server_or_the_builder()
    {
        await AssertNone(Violations(EngineAssembly, "OnnxLm.Engine", Http, Hosting, Cli, Builder), "the engine must not depend on Http, Hosting, Cli or the model builder");
        var references = EngineAssembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        await Assert.That(references).DoesNotContain(BuilderAssembly.GetName().Name);
        await Assert.That(references).DoesNotContain(ServerAssembly.GetName().Name);
    }

    [Test]
    public async Task The_builder_uses_no_part_of_the_engine()
    {
        await AssertNone(Violations(BuilderAssembly, Builder, "OnnxLm.Engine", Http, Hosting, Cli), "the model builder must not depend on the engine or the server");
        await Assert.That(BuilderAssembly.GetReferencedAssemblies().Select(a => a.Name)).DoesNotContain(EngineAssembly.GetName().Name);
    }

    [Test]
    public async Task Http_depends_on_neither_hosting_nor_cli() =>
        await AssertNone(Violations(ServerAssembly, Http, Hosting, Cli, Builder), "Http must not depend on Hosting, Cli or the model builder");

    [Test]
    public async Task Hub_depends_on_neither_http_hosting_nor_cli() =>
        await AssertNone(Violations(ServerAssembly, "OnnxLm.Hub", Http, Hosting, Cli, Builder),
            "the Hub client must not depend on Http, Hosting, Cli or the model builder (Cli and Hosting use it)");

    [Test]
    public async Task Hosting_does_not_depend_on_cli() =>
        await AssertNone(Violations(ServerAssembly, Hosting, Cli), "Hosting must not depend on Cli");

    // The checker itself: the same rule, applied to deliberately violating types compiled into this assembly, must
    // name each of them (a checker that silently passes everything would make every rule above worthless).

    [Test]
    public async Task The_checker_catches_a_forbidden_dependency_in_a_field_and_in_a_method_body()
    {
        var violations = Violations(typeof(DependencyDirectionTests).Assembly, Violating.Marker.Namespace, Model);
        await Assert.That(violations.Any(v => v.StartsWith(typeof(Violating.HoldsARunner).FullName + ":", StringComparison.Ordinal))).IsTrue()
            .Because(string.Join("\n", violations));
        await Assert.That(violations.Any(v => v.StartsWith(typeof(Violating.ChecksAContractInABody).FullName + ":", StringComparison.Ordinal))).IsTrue()
            .Because(string.Join("\n", violations));
        await Assert.That(violations.Any(v => v.StartsWith(typeof(Violating.Marker).FullName + ":", StringComparison.Ordinal))).IsFalse();
    }
}
