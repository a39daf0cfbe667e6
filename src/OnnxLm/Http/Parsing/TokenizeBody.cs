namespace OnnxLm.Http.Parsing;

/// <summary>The body of <c>POST /tokenize</c> (vLLM's shape): a <c>prompt</c> to encode as is, or chat <c>messages</c>
/// rendered with the model's chat template first.</summary>
[JsonRequest]
public sealed partial class TokenizeBody
{
    [JsonField("model", MaxLength = 256)] public Utf8Slice Model { get; set; }
    [JsonField("prompt", MaxItems = 65536)] public PromptInput Prompt { get; } = new();
    [JsonField("messages", MaxItems = 4096)] public PooledList<ChatMessageBody> Messages { get; } = new();
    [JsonField("add_generation_prompt")] public bool? AddGenerationPrompt { get; set; }
}
