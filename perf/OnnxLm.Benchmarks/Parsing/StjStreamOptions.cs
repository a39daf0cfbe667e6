using System.Text.Json.Serialization;

namespace OnnxLm.Benchmarks.Parsing;

public sealed class StjStreamOptions
{
    [JsonPropertyName("include_usage")] public bool IncludeUsage { get; set; }
}
