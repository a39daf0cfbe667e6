// Invariant: a SamplingParams is immutable once built; the engine may share one instance across steps and
// requests. Neutral values (TopK 0, TopP 1, MinP 0, penalties 1/0/0, no bias) switch a stage off entirely, and
// Validate is the only gate: the Sampler assumes it has passed.
using System.Collections.Immutable;

namespace OnnxLm.Engine.Sampling;

/// <summary>Per-request sampling settings with OpenAI (and common vLLM/HF extension) semantics.</summary>
public sealed record SamplingParams
{
    /// <summary>Largest <see cref="TopLogprobs"/> OpenAI allows.</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>Argmax decoding with no penalties: what temperature 0 means.</summary>
    public static SamplingParams Greedy { get; } = new() { Temperature = 0f };

    /// <summary>0 selects greedy (argmax); otherwise logits are divided by it. OpenAI range [0, 2].</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the K highest logits (ties with the K-th are kept, as in HF). 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus: keep the smallest most-probable set whose mass reaches TopP. 1 = off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Drop tokens whose probability is below MinP times the most probable token's. 0 = off.</summary>
    public float MinP { get; init; }

    /// <summary>HF semantics over prompt and generated tokens: a seen token's positive logit is divided by it,
    /// a negative one multiplied. 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>OpenAI: subtracted once from the logit of every token generated so far.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI: subtracted from a token's logit once per time it has been generated.</summary>
    public float FrequencyPenalty { get; init; }

    private readonly ImmutableArray<TokenBias> logitBias = ImmutableArray<TokenBias>.Empty;

    /// <summary>Added to the raw logits before everything else (OpenAI <c>logit_bias</c>).</summary>
    public ImmutableArray<TokenBias> LogitBias
    {
        get => logitBias;
        init => logitBias = value.IsDefault ? ImmutableArray<TokenBias>.Empty : value;
    }

    /// <summary>Seeds the request's own generator; null draws a seed from the engine's generator.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Return the chosen token's log-probability.</summary>
    public bool Logprobs { get; init; }

    /// <summary>Also return this many most likely alternatives (0..20); requires <see cref="Logprobs"/>.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>True when any repetition/presence/frequency penalty is active, i.e. token history matters.</summary>
    public bool HasPenalties => RepetitionPenalty != 1f || PresencePenalty != 0f || FrequencyPenalty != 0f;

    /// <summary>True when the next token is the argmax (temperature 0, or top_k 1 which can only keep the max).</summary>
    public bool IsGreedy => Temperature == 0f || TopK == 1;

    /// <summary>Checks every field against its OpenAI range; returns null when valid, else the first offence.</summary>
    public SamplingParamError? Validate(int vocabSize)
    {
        // The negated comparisons also reject NaN, which fails every ordered comparison.
        if (!(Temperature >= 0f && Temperature <= 2f))
            return new("temperature", "temperature must be in [0, 2]");
        if (TopK < 0)
            return new("top_k", "top_k must be >= 0 (0 disables it)");
        if (!(TopP > 0f && TopP <= 1f))
            return new("top_p", "top_p must be in (0, 1]");
        if (!(MinP >= 0f && MinP <= 1f))
            return new("min_p", "min_p must be in [0, 1]");
        if (!(RepetitionPenalty > 0f && float.IsFinite(RepetitionPenalty)))
            return new("repetition_penalty", "repetition_penalty must be a finite number > 0");
        if (!(PresencePenalty >= -2f && PresencePenalty <= 2f))
            return new("presence_penalty", "presence_penalty must be in [-2, 2]");
        if (!(FrequencyPenalty >= -2f && FrequencyPenalty <= 2f))
            return new("frequency_penalty", "frequency_penalty must be in [-2, 2]");
        foreach (TokenBias b in LogitBias)
        {
            if ((uint)b.TokenId >= (uint)vocabSize)
                return new("logit_bias", $"logit_bias token id {b.TokenId} is outside the vocabulary [0, {vocabSize})");
            if (!(b.Bias >= -100f && b.Bias <= 100f))
                return new("logit_bias", $"logit_bias value for token {b.TokenId} must be in [-100, 100]");
        }
        if (TopLogprobs < 0 || TopLogprobs > MaxTopLogprobs)
            return new("top_logprobs", "top_logprobs must be in [0, 20]");
        if (TopLogprobs > 0 && !Logprobs)
            return new("top_logprobs", "top_logprobs requires logprobs to be true");
        return null;
    }
}
