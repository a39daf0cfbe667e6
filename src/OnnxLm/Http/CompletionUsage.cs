namespace OnnxLm.Http;

/// <summary>The <c>usage</c> of one response: the prompt counted once, completion tokens summed over its choices.</summary>
internal readonly record struct CompletionUsage(int PromptTokens, int CompletionTokens, int CachedTokens);
