namespace OnnxLm.Engine.Sampling;

/// <summary>One entry of OpenAI's <c>logit_bias</c>: <paramref name="Bias"/> (in [-100, 100]) is added to the
/// logit of <paramref name="TokenId"/> before any other processing.</summary>
public readonly record struct TokenBias(int TokenId, float Bias);
