using System.Text.Json.Serialization;

namespace OnnxLm.Benchmarks.Parsing;

public sealed class StjResponseFormat
{
    [JsonPropertyName("type")] public string? Type { get; set; }
}
