// The schema corpus the benchmarks read: tests/OnnxLm.Tests/Constraints/schema-corpus.json, linked into this project's
// output (Constraints/schema-corpus.json), so tests and benchmarks share one copy.
using System.Text.Json;

namespace OnnxLm.Benchmarks.Constraints;

/// <summary>One corpus entry: schema text, and the keyword it must be refused for (null: the compiler accepts it).</summary>
public sealed record CorpusSchema(string Name, string Schema, string? Refused);

public static class SchemaCorpusFile
{
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "Constraints", "schema-corpus.json");

    public static List<CorpusSchema> Load(string? path = null)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path ?? DefaultPath));
        return
        [
            .. document.RootElement.EnumerateArray().Select(e => new CorpusSchema(
                e.GetProperty("name").GetString()!,
                e.GetProperty("schema").GetRawText(),
                e.TryGetProperty("refused", out JsonElement r) ? r.GetString() : null)),
        ];
    }
}
