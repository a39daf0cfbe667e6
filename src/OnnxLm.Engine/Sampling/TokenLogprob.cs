namespace OnnxLm.Engine.Sampling;

/// <summary>A token and its natural-log probability (see <see cref="Sampler"/> for which distribution).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);
