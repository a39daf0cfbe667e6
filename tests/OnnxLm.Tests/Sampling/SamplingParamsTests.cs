using System.Collections.Immutable;
using OnnxLm.Engine.Sampling;

namespace OnnxLm.Tests.Sampling;

public class SamplingParamsTests
{
    private const int Vocab = 1000;

    [Test]
    public async Task Defaults_and_greedy_are_valid()
    {
        await Assert.That(new SamplingParams().Validate(Vocab)).IsNull();
        await Assert.That(SamplingParams.Greedy.Validate(Vocab)).IsNull();
        await Assert.That(SamplingParams.Greedy.IsGreedy).IsTrue();
        await Assert.That(new SamplingParams().HasPenalties).IsFalse();
    }

    [Test]
    public async Task Boundary_values_are_accepted()
    {
        var p = new SamplingParams
        {
            Temperature = 2f,
            TopK = Vocab * 2,
            TopP = 1f,
            MinP = 1f,
            RepetitionPenalty = 0.5f,
            PresencePenalty = -2f,
            FrequencyPenalty = 2f,
            Logprobs = true,
            TopLogprobs = 20,
            LogitBias = [new TokenBias(0, -100f), new TokenBias(Vocab - 1, 100f)],
        };
        await Assert.That(p.Validate(Vocab)).IsNull();
    }

    [Test]
    [Arguments("temperature", "temperature must be in [0, 2]")]
    [Arguments("temperature_nan", "temperature must be in [0, 2]")]
    [Arguments("top_k", "top_k must be >= 0 (0 disables it)")]
    [Arguments("top_p", "top_p must be in (0, 1]")]
    [Arguments("top_p_zero", "top_p must be in (0, 1]")]
    [Arguments("min_p", "min_p must be in [0, 1]")]
    [Arguments("repetition_penalty", "repetition_penalty must be a finite number > 0")]
    [Arguments("presence_penalty", "presence_penalty must be in [-2, 2]")]
    [Arguments("frequency_penalty", "frequency_penalty must be in [-2, 2]")]
    [Arguments("logit_bias", "logit_bias token id 1000 is outside the vocabulary [0, 1000)")]
    [Arguments("logit_bias_value", "logit_bias value for token 3 must be in [-100, 100]")]
    [Arguments("top_logprobs", "top_logprobs must be in [0, 20]")]
    [Arguments("top_logprobs_without_logprobs", "top_logprobs requires logprobs to be true")]
    public async Task Validate_names_the_offending_openai_parameter(string @case, string message)
    {
        SamplingParams p = @case switch
        {
            "temperature" => new() { Temperature = 2.5f },
            "temperature_nan" => new() { Temperature = float.NaN },
            "top_k" => new() { TopK = -1 },
            "top_p" => new() { TopP = 1.01f },
            "top_p_zero" => new() { TopP = 0f },
            "min_p" => new() { MinP = -0.1f },
            "repetition_penalty" => new() { RepetitionPenalty = 0f },
            "presence_penalty" => new() { PresencePenalty = 2.1f },
            "frequency_penalty" => new() { FrequencyPenalty = -3f },
            "logit_bias" => new() { LogitBias = [new TokenBias(Vocab, 1f)] },
            "logit_bias_value" => new() { LogitBias = [new TokenBias(3, 101f)] },
            "top_logprobs" => new() { Logprobs = true, TopLogprobs = 21 },
            "top_logprobs_without_logprobs" => new() { TopLogprobs = 2 },
            _ => throw new ArgumentOutOfRangeException(nameof(@case)),
        };
        SamplingParamError? error = p.Validate(Vocab);
        string expectedParam = @case switch
        {
            "temperature_nan" => "temperature",
            "top_p_zero" => "top_p",
            "logit_bias_value" => "logit_bias",
            "top_logprobs_without_logprobs" => "top_logprobs",
            _ => @case,
        };
        await Assert.That(error).IsNotNull();
        await Assert.That(error!.Value.Param).IsEqualTo(expectedParam);
        await Assert.That(error.Value.Message).IsEqualTo(message);
    }

    [Test]
    public async Task Default_logit_bias_array_reads_as_empty()
    {
        var p = new SamplingParams { LogitBias = default };
        await Assert.That(p.LogitBias.IsDefault).IsFalse();
        await Assert.That(p.LogitBias.Length).IsEqualTo(0);
        await Assert.That(p.Validate(Vocab)).IsNull();
    }

    [Test]
    public async Task Top_k_one_counts_as_greedy_and_any_penalty_counts_as_penalty()
    {
        await Assert.That(new SamplingParams { TopK = 1, Temperature = 1.5f }.IsGreedy).IsTrue();
        await Assert.That(new SamplingParams { TopK = 2 }.IsGreedy).IsFalse();
        await Assert.That(new SamplingParams { RepetitionPenalty = 1.1f }.HasPenalties).IsTrue();
        await Assert.That(new SamplingParams { PresencePenalty = 0.5f }.HasPenalties).IsTrue();
        await Assert.That(new SamplingParams { FrequencyPenalty = -0.5f }.HasPenalties).IsTrue();
        ImmutableArray<TokenBias> bias = [new TokenBias(1, 2f)];
        await Assert.That(new SamplingParams { LogitBias = bias }.HasPenalties).IsFalse();
    }
}
