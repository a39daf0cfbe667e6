namespace OnnxLm.Engine.Sampling;

/// <summary>The result of one <see cref="Sampler.Sample(System.Span{float}, SequenceSampler)"/> call.</summary>
/// <param name="TokenId">The chosen token.</param>
/// <param name="Logprob">Its log-probability when <see cref="SamplingParams.Logprobs"/> is set; NaN otherwise
/// (computing it costs a full pass of exp over the vocabulary, so it is skipped when nobody asked).</param>
/// <param name="TopLogprobCount">How many entries were written to the top-logprobs buffer (0 when not requested).</param>
public readonly record struct SampledToken(int TokenId, float Logprob, int TopLogprobCount);
