namespace OnnxLm.Baseline;

/// <summary>Sampling settings of one request. Temperature 0 means greedy; <see cref="MaxTokens"/> null means up to the
/// context length.</summary>
public readonly record struct GenerationSettings(int? MaxTokens, float Temperature, float? TopP, int? TopK, int? Seed, bool IgnoreEos);
