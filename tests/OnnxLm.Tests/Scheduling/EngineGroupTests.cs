using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>OpenAI <c>n</c>: several sequences share one prompt prefill and fork its KV; and per-token logprobs.</summary>
public class EngineGroupTests
{
    [Test]
    [Arguments(true)]
    [Arguments(false)]
    public async Task Greedy_group_members_all_match_the_oracle(bool prefixCache)
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4, prefillStepSize: 16, prefixCache: prefixCache);
        var prompt = EngineDriver.RandomPrompt(600, 37);
        var group = Enumerable.Range(0, 3).Select(_ => EngineDriver.Greedy(prompt, 20)).ToArray();
        await Assert.That(engine.TrySubmitGroup(group)).IsTrue();
        var expected = string.Join(",", Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 20));
        foreach (var r in group)
        {
            var result = await new Collector(r).Completion;
            await Assert.That(string.Join(",", result.TokensWithoutEos(engine.Contract.Config.EosTokenIds))).IsEqualTo(expected);
        }
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        if (prefixCache) await Assert.That(engine.Cache!.CheckInvariants()).IsNull();
    }

    [Test]
    public async Task Sampled_group_members_equal_the_same_seeds_run_alone_while_others_decode()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 6);
        var prompt = EngineDriver.RandomPrompt(610, 25);
        SamplingParams P(ulong seed) => new() { Temperature = 1.1f, TopP = 0.9f, Seed = seed };
        var alone = new List<int[]>();
        for (ulong s = 1; s <= 4; s++)
            alone.Add((await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, P(s), 30, ignoreEos: true))).Tokens);
        var other = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(611, 9), P(99), 200, ignoreEos: true));
        await other.WaitForTokensAsync(2);
        var group = Enumerable.Range(1, 4).Select(s => new GenerationRequest(prompt, P((ulong)s), 30, ignoreEos: true)).ToArray();
        await Assert.That(engine.TrySubmitGroup(group)).IsTrue();
        for (int i = 0; i < 4; i++)
        {
            var r = await new Collector(group[i]).Completion;
            await Assert.That(string.Join(",", r.Tokens)).IsEqualTo(string.Join(",", alone[i]));
        }
        await Assert.That(alone.Select(a => string.Join(",", a)).Distinct().Count()).IsGreaterThan(1);
        engine.Cancel(other.Request);
        await other.Completion;
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    [Test]
    public async Task Group_waits_for_enough_rows_and_cancels_as_a_whole()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 3);
        var busy = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(620, 5), SamplingParams.Greedy, 60, ignoreEos: true));
        await busy.WaitForTokensAsync(1);
        var prompt = EngineDriver.RandomPrompt(621, 12);
        var group = Enumerable.Range(0, 3).Select(_ => new GenerationRequest(prompt, SamplingParams.Greedy, 500, ignoreEos: true)).ToArray();
        await Assert.That(engine.TrySubmitGroup(group)).IsTrue();
        var collectors = group.Select(g => new Collector(g)).ToArray();
        var done = await busy.Completion;
        await Assert.That(done.Tokens.Length).IsEqualTo(60);
        await collectors[0].WaitForTokensAsync(3);
        foreach (var g in group) engine.Cancel(g);
        foreach (var c in collectors) await Assert.That((await c.Completion).Finish).IsEqualTo(FinishReason.Cancelled);
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        await Assert.That(() => engine.TrySubmitGroup(Enumerable.Range(0, 4).Select(_ => EngineDriver.Greedy(prompt, 2)).ToArray()))
            .Throws<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task Top_logprobs_are_stored_per_token_sorted_and_consistent_with_the_choice()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var request = new GenerationRequest(EngineDriver.RandomPrompt(630, 14), SamplingParams.Greedy with { Logprobs = true, TopLogprobs = 5 }, 12, ignoreEos: true);
        await Assert.That(engine.TrySubmit(request)).IsTrue();
        int tokens = 0;
        while (await request.Events.WaitToReadAsync(CancellationToken.None))
        {
            while (request.Events.TryRead(out var ev))
            {
                if (ev.Kind != TokenEventKind.Token) continue;
                await Assert.That(ev.Index).IsEqualTo(tokens);
                await Assert.That((int)ev.TopLogprobCount).IsEqualTo(5);
                var top = request.TopLogprobs(ev.Index, ev.TopLogprobCount).ToArray();
                // Greedy picks the most likely token; its logprob is the top entry's.
                await Assert.That(top[0].TokenId).IsEqualTo(ev.TokenId);
                await Assert.That(top[0].Logprob).IsEqualTo(ev.Logprob).Within(1e-5f);
                for (int k = 1; k < top.Length; k++) await Assert.That(top[k].Logprob).IsLessThanOrEqualTo(top[k - 1].Logprob);
                await Assert.That(top.Sum(t => Math.Exp(t.Logprob))).IsLessThanOrEqualTo(1.0001);
                tokens++;
            }
        }
        await Assert.That(tokens).IsEqualTo(12);
    }
}
