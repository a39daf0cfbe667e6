using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxLm.Baseline;

/// <summary>The fields of a chat or text completion request that the baseline honours; others are ignored.</summary>
public sealed class BaselineRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("messages")] public List<BaselineMessage>? Messages { get; set; }
    /// <summary>A string, or an array of token ids.</summary>
    [JsonPropertyName("prompt")] public JsonElement Prompt { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }
    [JsonPropertyName("temperature")] public float? Temperature { get; set; }
    [JsonPropertyName("top_p")] public float? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("seed")] public int? Seed { get; set; }
    [JsonPropertyName("stream")] public bool Stream { get; set; }
    [JsonPropertyName("stream_options")] public BaselineStreamOptions? StreamOptions { get; set; }
    [JsonPropertyName("ignore_eos")] public bool IgnoreEos { get; set; }
}
