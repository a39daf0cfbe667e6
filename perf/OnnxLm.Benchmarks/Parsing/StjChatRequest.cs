using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxLm.Benchmarks.Parsing;

/// <summary>The chat request as System.Text.Json POCOs, typed as favourably to STJ as the sample allows (string content,
/// string list stop) so the comparison measures the serializer, not JsonElement clones.</summary>
public sealed class StjChatRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("messages")] public List<StjChatMessage>? Messages { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("temperature")] public float? Temperature { get; set; }
    [JsonPropertyName("top_p")] public float? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public float? MinP { get; set; }
    [JsonPropertyName("seed")] public long? Seed { get; set; }
    [JsonPropertyName("stop")] public List<string>? Stop { get; set; }
    [JsonPropertyName("presence_penalty")] public float? PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public float? FrequencyPenalty { get; set; }
    [JsonPropertyName("repetition_penalty")] public float? RepetitionPenalty { get; set; }
    [JsonPropertyName("logit_bias")] public Dictionary<string, float>? LogitBias { get; set; }
    [JsonPropertyName("n")] public int? N { get; set; }
    [JsonPropertyName("stream")] public bool Stream { get; set; }
    [JsonPropertyName("stream_options")] public StjStreamOptions? StreamOptions { get; set; }
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("response_format")] public StjResponseFormat? ResponseFormat { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement ToolChoice { get; set; }
    [JsonPropertyName("ignore_eos")] public bool IgnoreEos { get; set; }
}
