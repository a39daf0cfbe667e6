using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxLm.Http;

// Wire shapes of the OpenAI requests, bound by System.Text.Json source generation (no reflection).
// Fields that take several JSON shapes (content, stop, prompt) stay JsonElement and are normalised by RequestReader.

public sealed class ChatMessage
{
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("content")] public JsonElement Content { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
}

public sealed class StreamOptions
{
    [JsonPropertyName("include_usage")] public bool IncludeUsage { get; set; }
}

/// <summary>Fields shared by chat and text completions.</summary>
public abstract class CompletionRequestBase
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("temperature")] public float? Temperature { get; set; }
    [JsonPropertyName("top_p")] public float? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public float? MinP { get; set; }
    [JsonPropertyName("seed")] public long? Seed { get; set; }
    [JsonPropertyName("stop")] public JsonElement Stop { get; set; }
    [JsonPropertyName("presence_penalty")] public float? PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public float? FrequencyPenalty { get; set; }
    [JsonPropertyName("repetition_penalty")] public float? RepetitionPenalty { get; set; }
    [JsonPropertyName("logit_bias")] public Dictionary<string, float>? LogitBias { get; set; }
    [JsonPropertyName("n")] public int? N { get; set; }
    [JsonPropertyName("stream")] public bool Stream { get; set; }
    [JsonPropertyName("stream_options")] public StreamOptions? StreamOptions { get; set; }
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("ignore_eos")] public bool IgnoreEos { get; set; }
}

public sealed class ChatCompletionRequest : CompletionRequestBase
{
    [JsonPropertyName("messages")] public List<ChatMessage>? Messages { get; set; }
    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }
    [JsonPropertyName("tools")] public JsonElement Tools { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement ToolChoice { get; set; }
    [JsonPropertyName("response_format")] public JsonElement ResponseFormat { get; set; }
    [JsonPropertyName("logprobs")] public bool? Logprobs { get; set; }
    [JsonPropertyName("top_logprobs")] public int? TopLogprobs { get; set; }
}

public sealed class CompletionRequest : CompletionRequestBase
{
    [JsonPropertyName("prompt")] public JsonElement Prompt { get; set; }
    [JsonPropertyName("echo")] public bool Echo { get; set; }
    [JsonPropertyName("suffix")] public string? Suffix { get; set; }
    [JsonPropertyName("logprobs")] public int? Logprobs { get; set; }
    [JsonPropertyName("best_of")] public int? BestOf { get; set; }
}

[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Disallow, MaxDepth = 32, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(CompletionRequest))]
internal sealed partial class RequestJsonContext : JsonSerializerContext;
