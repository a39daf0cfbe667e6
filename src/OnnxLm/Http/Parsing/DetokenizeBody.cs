namespace OnnxLm.Http.Parsing;

/// <summary>The body of <c>POST /detokenize</c>: <c>tokens</c>, an array of token ids.</summary>
[JsonRequest]
public sealed partial class DetokenizeBody
{
    [JsonField("model", MaxLength = 256)] public Utf8Slice Model { get; set; }
    [JsonField("tokens", Required = true, MaxItems = 1 << 20)] public PromptInput Tokens { get; } = new();
}
