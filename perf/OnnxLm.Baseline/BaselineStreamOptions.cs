using System.Text.Json.Serialization;

namespace OnnxLm.Baseline;

public sealed class BaselineStreamOptions
{
    [JsonPropertyName("include_usage")] public bool IncludeUsage { get; set; }
}
