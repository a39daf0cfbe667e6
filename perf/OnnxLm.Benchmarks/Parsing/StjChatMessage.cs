using System.Text.Json.Serialization;

namespace OnnxLm.Benchmarks.Parsing;

public sealed class StjChatMessage
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("content")] public string? Content { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
}
