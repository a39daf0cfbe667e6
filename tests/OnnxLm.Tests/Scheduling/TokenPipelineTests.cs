using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>The one path from logits to an accepted token: its mask hook reaches decode, the first token and forks.</summary>
public class TokenPipelineTests
{
    /// <summary>Allows one token id only: everything else gets negative infinity.</summary>
    sealed class OnlyToken(int allowed) : ILogitMask
    {
        public int Calls;

        public void Apply(GenerationRequest request, int generated, Span<float> logits)
        {
            Calls++;
            float keep = logits[allowed];
            logits.Fill(float.NegativeInfinity);
            logits[allowed] = keep;
        }
    }

    [Test]
    public async Task A_logit_mask_decides_every_token_of_decode_first_token_and_fork()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        int allowed = EngineDriver.RandomPrompt(1, 1)[0];
        var mask = new OnlyToken(allowed);
        engine.LogitMask = mask;
        var prompt = EngineDriver.RandomPrompt(42, 12);
        var group = Enumerable.Range(0, 3)
            .Select(i => new GenerationRequest(prompt, new SamplingParams { Temperature = 1f, Seed = (ulong)i }, 6, ignoreEos: true))
            .ToArray();
        await Assert.That(engine.TrySubmitGroup(group)).IsTrue();
        var results = await Task.WhenAll(group.Select(r => new Collector(r).Completion));
        foreach (var r in results)
        {
            await Assert.That(r.Error).IsNull();
            await Assert.That(r.Tokens).IsEquivalentTo(Enumerable.Repeat(allowed, 6));
        }
        await Assert.That(mask.Calls).IsEqualTo(3 * 6);

        // Without the hook the same requests sample freely again.
        engine.LogitMask = null;
        var free = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, new SamplingParams { Temperature = 1f, Seed = 7 }, 6, ignoreEos: true));
        await Assert.That(free.Tokens.All(t => t == allowed)).IsFalse();
    }
}
