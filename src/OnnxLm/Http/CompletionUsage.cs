namespace OnnxLm.Http;

/// <summary>The <c>usage</c> of one response: the prompt counted once, completion tokens summed over its choices;
/// <see cref="ReasoningTokens"/> are the completion tokens generated inside a thought, its tags included.</summary>
internal readonly record struct CompletionUsage(int PromptTokens, int CompletionTokens, int CachedTokens, int ReasoningTokens = 0);
