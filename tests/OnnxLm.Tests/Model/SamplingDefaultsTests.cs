using OnnxLm.Engine.Model;

namespace OnnxLm.Tests.Model;

/// <summary>Which sampling values a model folder recommends (generation_config.json, else genai_config search).</summary>
public sealed class SamplingDefaultsTests
{
    static SamplingDefaults Load(string generationConfig)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"onnxlm-sampling-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "generation_config.json"), generationConfig);
            return SamplingDefaults.Load(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task A_file_with_only_special_ids_recommends_nothing()
    {
        // Mistral, Gemma 2 and Phi-3 ship generation_config.json with their special ids only: requests keep OpenAI's
        // temperature 1 instead of turning greedy on an absent do_sample.
        var d = Load("""{"bos_token_id": 1, "eos_token_id": [2, 32000], "pad_token_id": 0}""");
        await Assert.That(d.Temperature).IsNull();
        await Assert.That(d.TopP).IsNull();
        await Assert.That(d.TopK).IsNull();
        await Assert.That(d.RepetitionPenalty).IsNull();
    }

    [Test]
    public async Task Written_values_are_taken_and_do_sample_false_is_greedy()
    {
        var qwen = Load("""{"do_sample": true, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}""");
        await Assert.That(qwen.Temperature).IsEqualTo(0.7f);
        await Assert.That(qwen.TopP).IsEqualTo(0.8f);
        await Assert.That(qwen.TopK).IsEqualTo(20);
        await Assert.That(qwen.RepetitionPenalty).IsEqualTo(1.05f);
        // Values without do_sample are taken as the publisher wrote them (vLLM does the same).
        var llama = Load("""{"temperature": 0.6, "top_p": 0.9}""");
        await Assert.That(llama.Temperature).IsEqualTo(0.6f);
        await Assert.That(llama.TopP).IsEqualTo(0.9f);
        var greedy = Load("""{"do_sample": false, "temperature": 0.6}""");
        await Assert.That(greedy.Temperature).IsEqualTo(0f);
        // Out-of-range values are clamped into OpenAI's ranges rather than failing every request that omits them.
        var odd = Load("""{"temperature": 5, "top_p": 0}""");
        await Assert.That(odd.Temperature).IsEqualTo(2f);
        await Assert.That(odd.TopP).IsNull();
    }
}
