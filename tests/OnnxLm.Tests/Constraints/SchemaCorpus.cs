using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>One corpus entry: a schema (minified text) with either an example document in the canonical form the decoder
/// produces, or the keyword the compiler must refuse it for (a restricting keyword it does not enforce: a 400).</summary>
public sealed record SchemaCase(string Name, string Schema, string? Example, string? Refused)
{
    public override string ToString() => Name;
}

/// <summary>
/// Realistic tool-argument and structured-output schemas (the shapes agents and SDKs send), read from
/// <c>schema-corpus.json</c> beside this file: the one copy the tests and the benchmarks (<c>perf/OnnxLm.Benchmarks</c>
/// links the same file) both load. Each line is <c>{"name","schema","example"}</c> or <c>{"name","schema","refused"}</c>.
/// </summary>
public static class SchemaCorpus
{
    static readonly Lazy<SchemaCase[]> All = new(Load);

    /// <summary>Every entry, refused ones included.</summary>
    public static SchemaCase[] Cases => All.Value;

    /// <summary>The entries the compiler accepts (each has an example).</summary>
    public static IEnumerable<SchemaCase> Accepted => Cases.Where(c => c.Refused is null);

    public static SchemaCase Get(string name) => Cases.Single(c => c.Name == name);

    public static string FilePath => Path.Combine(AppContext.BaseDirectory, "Constraints", "schema-corpus.json");

    static SchemaCase[] Load()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(FilePath));
        return
        [
            .. document.RootElement.EnumerateArray().Select(e => new SchemaCase(
                e.GetProperty("name").GetString()!,
                e.GetProperty("schema").GetRawText(),
                e.TryGetProperty("example", out JsonElement example) ? Encoding.UTF8.GetString(CanonicalJson.Serialize(example)) : null,
                e.TryGetProperty("refused", out JsonElement refused) ? refused.GetString() : null)),
        ];
    }
}
