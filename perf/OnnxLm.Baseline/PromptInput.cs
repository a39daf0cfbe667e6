namespace OnnxLm.Baseline;

/// <summary>One of: chat messages as an OpenAI messages JSON array, plain prompt text, or prompt token ids.</summary>
public sealed record PromptInput(string? MessagesJson, string? Text, int[]? Tokens);
