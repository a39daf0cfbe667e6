namespace OnnxLm.Baseline;

/// <summary>How a generation ended: token counts for usage and the OpenAI finish_reason ("stop" or "length").</summary>
public readonly record struct GenerationOutcome(int PromptTokens, int CompletionTokens, string FinishReason);
