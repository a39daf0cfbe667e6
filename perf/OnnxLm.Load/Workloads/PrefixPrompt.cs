namespace OnnxLm.Load.Workloads;

/// <summary>A shared prompt prefix: text, or token ids in exact mode.</summary>
public sealed record PrefixPrompt(string? Text, int[]? TokenIds);
