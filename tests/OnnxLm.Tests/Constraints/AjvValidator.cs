using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Conformance;

namespace OnnxLm.Tests.Constraints;

/// <summary>One document to validate: the schema and the instance as JSON text, and the schema's draft.</summary>
public sealed record ValidationItem(string Schema, string Instance, string Draft = "2020-12");

/// <summary>The verdict of ajv on one <see cref="ValidationItem"/>: valid, or the errors (or why the schema did not
/// compile in ajv).</summary>
public sealed record ValidationVerdict(bool Valid, string? Errors);

/// <summary>
/// An independent validator for generated documents: ajv 8 with ajv-formats (npm, <c>tests/node/validate-json.mjs</c>),
/// a different implementation from the compiler and from <see cref="ReferenceValidator"/>. A whole batch is one node
/// process, so thousands of documents cost one start-up.
/// </summary>
public static class AjvValidator
{
    public static async Task<ValidationVerdict[]> ValidateAsync(IReadOnlyList<ValidationItem> items)
    {
        if (items.Count == 0) return [];
        string batch = Path.Combine(Path.GetTempPath(), $"onnxlm-ajv-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            using (FileStream stream = File.Create(batch))
            using (var writer = new Utf8JsonWriter(stream))
            {
                writer.WriteStartArray();
                foreach (ValidationItem item in items)
                {
                    writer.WriteStartObject();
                    writer.WritePropertyName("schema");
                    writer.WriteRawValue(item.Schema);
                    writer.WritePropertyName("instance");
                    writer.WriteRawValue(item.Instance);
                    writer.WriteString("draft", item.Draft);
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
            }
            string stdout = await NodeScript.RunReferenceAsync("validate-json.mjs", TimeSpan.FromSeconds(120), batch);
            string line = stdout.Split('\n').Single(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
            using JsonDocument results = JsonDocument.Parse(Encoding.UTF8.GetBytes(line["RESULT ".Length..]));
            var verdicts = results.RootElement.EnumerateArray().Select(r => new ValidationVerdict(
                r.GetProperty("valid").GetBoolean(),
                r.TryGetProperty("errors", out JsonElement e) ? e.GetString()
                    : r.TryGetProperty("schemaError", out JsonElement s) ? "schema: " + s.GetString() : null)).ToArray();
            if (verdicts.Length != items.Count) throw new InvalidOperationException($"ajv returned {verdicts.Length} verdicts for {items.Count} documents");
            return verdicts;
        }
        finally
        {
            File.Delete(batch);
        }
    }
}
