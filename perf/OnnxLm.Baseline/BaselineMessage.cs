using System.Text.Json.Serialization;

namespace OnnxLm.Baseline;

/// <summary>A chat message; content is plain text (this baseline takes no content parts).</summary>
public sealed class BaselineMessage
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("content")] public string? Content { get; set; }
}
