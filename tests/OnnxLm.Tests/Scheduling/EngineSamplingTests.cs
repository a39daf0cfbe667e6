using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>Sampling through the engine: a request's random stream belongs to it alone, whatever else is in the batch.</summary>
public class EngineSamplingTests
{
    static readonly SamplingParams Seeded = new() { Temperature = 0.9f, TopP = 0.95f, Seed = 4242 };

    [Test]
    public async Task Same_seed_gives_same_tokens_alone_and_in_a_full_batch()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 8);
        var prompt = EngineDriver.RandomPrompt(70, 21);
        var alone = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, Seeded, 40, ignoreEos: true));

        var others = Enumerable.Range(0, 7).Select(i => EngineDriver.Submit(engine,
            new GenerationRequest(EngineDriver.RandomPrompt(80 + i, 5 + 9 * i), new SamplingParams { Temperature = 1.2f, Seed = (ulong)i }, 60, ignoreEos: true))).ToArray();
        await others[0].WaitForTokensAsync(2);
        var batched = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, Seeded, 40, ignoreEos: true));
        foreach (var o in others) await o.Completion;

        await Assert.That(alone.Tokens.Length).IsEqualTo(40);
        await Assert.That(string.Join(",", batched.Tokens)).IsEqualTo(string.Join(",", alone.Tokens));
        await Assert.That(batched.Text).IsEqualTo(alone.Text);
    }

    [Test]
    public async Task Different_seeds_give_different_tokens()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var prompt = EngineDriver.RandomPrompt(71, 10);
        var a = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, Seeded with { Temperature = 1.5f, TopP = 1f }, 30, ignoreEos: true));
        var b = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, Seeded with { Temperature = 1.5f, TopP = 1f, Seed = 7 }, 30, ignoreEos: true));
        await Assert.That(string.Join(",", a.Tokens)).IsNotEqualTo(string.Join(",", b.Tokens));
    }

    [Test]
    public async Task Top_k_1_equals_greedy_at_any_temperature()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var prompt = EngineDriver.RandomPrompt(72, 15);
        var greedy = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 30));
        var topK1 = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, new SamplingParams { Temperature = 1.7f, TopK = 1, Seed = 1 }, 30));
        await Assert.That(string.Join(",", topK1.Tokens)).IsEqualTo(string.Join(",", greedy.Tokens));
    }

    [Test]
    public async Task Penalties_reduce_repetition()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var prompt = EngineDriver.RandomPrompt(73, 6);
        int Distinct(RunResult r) => r.Tokens.Distinct().Count();
        int MaxRepeat(RunResult r) => r.Tokens.GroupBy(t => t).Max(g => g.Count());
        var plain = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy, 120, ignoreEos: true));
        var frequency = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy with { FrequencyPenalty = 2f }, 120, ignoreEos: true));
        var presence = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy with { PresencePenalty = 2f }, 120, ignoreEos: true));
        var repetition = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy with { RepetitionPenalty = 1.8f }, 120, ignoreEos: true));
        // Greedy on a random model loops; each penalty must break loops: more distinct tokens, fewer repeats of the commonest.
        foreach (var penalised in new[] { frequency, presence, repetition })
        {
            await Assert.That(Distinct(penalised)).IsGreaterThan(Distinct(plain));
            await Assert.That(MaxRepeat(penalised)).IsLessThan(MaxRepeat(plain));
        }
    }

    [Test]
    public async Task Logit_bias_forces_and_bans_tokens()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var prompt = EngineDriver.RandomPrompt(74, 9);
        var greedy = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 10));
        int first = greedy.Tokens[0];
        var banned = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt,
            SamplingParams.Greedy with { LogitBias = [new TokenBias(first, -100f)] }, 10));
        await Assert.That(banned.Tokens).DoesNotContain(first);
        var forced = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt,
            SamplingParams.Greedy with { LogitBias = [new TokenBias(65, 100f)] }, 5));
        await Assert.That(forced.Tokens.All(t => t == 65)).IsTrue();
    }
}
