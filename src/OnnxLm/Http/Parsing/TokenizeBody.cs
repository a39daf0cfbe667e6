namespace OnnxLm.Http.Parsing;

/// <summary>The body of <c>POST /tokenize</c> (vLLM's shape): a <c>prompt</c> to encode as is, or chat <c>messages</c>
/// rendered with the model's chat template first (with <c>tools</c>, as a chat request with them renders it).</summary>
[JsonRequest]
public sealed partial class TokenizeBody
{
    [JsonField("model", MaxLength = 256)] public Utf8Slice Model { get; set; }
    [JsonField("prompt", MaxItems = 65536)] public PromptInput Prompt { get; } = new();
    [JsonField("messages", MaxItems = 4096)] public PooledList<ChatMessageBody> Messages { get; } = new();
    [JsonField("add_generation_prompt")] public bool? AddGenerationPrompt { get; set; }
    /// <summary>As in chat completions: the tool definitions reach the template (and the count) as they would there.</summary>
    [JsonField("tools")] public RawJson Tools { get; set; }
    [JsonField("tool_choice")] public RawJson ToolChoice { get; set; }
    [JsonField("parallel_tool_calls")] public RawJson ParallelToolCalls { get; set; }
}
