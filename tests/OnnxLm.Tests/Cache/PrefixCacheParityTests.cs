using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cache;

/// <summary>
/// With the lossless prefix cache on, greedy output equals the oracle's (which never caches) in every reuse pattern, and
/// the reuse is real: cached_tokens reports what was not recomputed.
/// </summary>
public class PrefixCacheParityTests
{
    static string Dir => TestModels.TinyFp32;

    static async Task<RunResult> RunChecked(InferenceEngine engine, int[] prompt, int maxTokens)
    {
        var r = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, maxTokens));
        await Assert.That(r.Error).IsNull();
        var expected = Oracle.GreedyTokens(Dir, prompt, maxTokens);
        await Assert.That(string.Join(",", r.TokensWithoutEos(engine.Contract.Config.EosTokenIds))).IsEqualTo(string.Join(",", expected));
        return r;
    }

    static int[] Concat(params int[][] parts) => parts.SelectMany(p => p).ToArray();

    [Test]
    [Arguments(5)]     // shorter than one block
    [Arguments(16)]    // exactly one block
    [Arguments(17)]    // one token past a block
    [Arguments(32)]    // exactly on a boundary
    [Arguments(33)]
    [Arguments(100)]
    public async Task Repeated_prompt_matches_oracle_and_reuses_whole_blocks(int length)
    {
        // Block reuse only: a different request runs in between on the same row, so the row's resident KV is gone.
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 1, blockSize: 16);
        var prompt = EngineDriver.RandomPrompt(length, length);
        var cold = await RunChecked(engine, prompt, 12);
        await RunChecked(engine, EngineDriver.RandomPrompt(999, 40), 3);
        var warm = await RunChecked(engine, prompt, 12);
        await Assert.That(cold.CachedTokens).IsEqualTo(0);
        // Whole blocks, always leaving at least one prompt token to prefill.
        await Assert.That(warm.CachedTokens).IsEqualTo((length - 1) / 16 * 16);
    }

    [Test]
    public async Task Branching_continuations_of_one_prefix_match_oracle()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 2);
        var shared = EngineDriver.RandomPrompt(1, 48);
        await RunChecked(engine, Concat(shared, EngineDriver.RandomPrompt(2, 5)), 10);
        var a = await RunChecked(engine, Concat(shared, EngineDriver.RandomPrompt(3, 7)), 10);
        var b = await RunChecked(engine, Concat(shared, EngineDriver.RandomPrompt(4, 20)), 10);
        await Assert.That(a.CachedTokens).IsGreaterThanOrEqualTo(48);
        await Assert.That(b.CachedTokens).IsGreaterThanOrEqualTo(48);
    }

    [Test]
    public async Task Alternating_between_two_conversations_matches_oracle()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 1);
        var first = EngineDriver.RandomPrompt(10, 40);
        var second = EngineDriver.RandomPrompt(11, 40);
        int expected1 = 0, expected2 = 0;
        for (int turn = 0; turn < 3; turn++)
        {
            // One row for two conversations: each turn finds the other's KV in the row, so its own comes from blocks:
            // every whole block of what the previous turn fed (prompt + all generated tokens but the last).
            var r1 = await RunChecked(engine, first, 6);
            var r2 = await RunChecked(engine, second, 6);
            await Assert.That(r1.CachedTokens).IsEqualTo(expected1);
            await Assert.That(r2.CachedTokens).IsEqualTo(expected2);
            expected1 = (first.Length + r1.Tokens.Length - 1) / 16 * 16;
            expected2 = (second.Length + r2.Tokens.Length - 1) / 16 * 16;
            first = Concat(first, r1.Tokens, EngineDriver.RandomPrompt(20 + turn, 9));
            second = Concat(second, r2.Tokens, EngineDriver.RandomPrompt(30 + turn, 9));
        }
    }

    [Test]
    public async Task Eight_concurrent_requests_sharing_a_system_prompt_match_oracle()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 8, prefillStepSize: 64);
        var system = EngineDriver.RandomPrompt(40, 96);
        await RunChecked(engine, Concat(system, EngineDriver.RandomPrompt(41, 3)), 4);   // warms the cache
        var prompts = Enumerable.Range(0, 8).Select(i => Concat(system, EngineDriver.RandomPrompt(50 + i, 4 + i))).ToArray();
        var runs = prompts.Select(p => EngineDriver.Submit(engine, EngineDriver.Greedy(p, 15))).ToArray();
        for (int i = 0; i < 8; i++)
        {
            var r = await runs[i].Completion;
            var expected = Oracle.GreedyTokens(Dir, prompts[i], 15);
            await Assert.That(string.Join(",", r.TokensWithoutEos(engine.Contract.Config.EosTokenIds))).IsEqualTo(string.Join(",", expected));
            await Assert.That(r.CachedTokens).IsGreaterThanOrEqualTo(96);
        }
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        await Assert.That(engine.Cache!.CheckInvariants()).IsNull();
    }

    [Test]
    public async Task Eviction_under_a_tiny_budget_keeps_output_correct()
    {
        // Room for 6 blocks only: every request evicts others' blocks.
        using var probe = EngineDriver.Start(Dir, maxBatchSize: 1);
        long blockBytes = probe.Cache!.Layout.BlockBytes;
        probe.Dispose();
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 2, kvCacheMemory: blockBytes * 6);
        await Assert.That(engine.Cache!.Capacity).IsEqualTo(6);
        var prompts = Enumerable.Range(0, 5).Select(i => EngineDriver.RandomPrompt(60 + i, 50)).ToArray();
        for (int round = 0; round < 2; round++)
            foreach (var p in prompts) await RunChecked(engine, p, 20);
        await Assert.That(engine.Cache.Evictions).IsGreaterThan(0);
        await Assert.That(engine.Cache.BlocksUsed).IsLessThanOrEqualTo(6);
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        await Assert.That(engine.Cache.CheckInvariants()).IsNull();
    }

    [Test]
    public async Task Ten_turn_chat_reuses_each_previous_turn()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 2);
        var conversation = EngineDriver.RandomPrompt(70, 20);
        for (int turn = 0; turn < 10; turn++)
        {
            var r = await RunChecked(engine, conversation, 8);
            if (turn > 0) await Assert.That(r.CachedTokens).IsGreaterThanOrEqualTo(conversation.Length - 20);
            conversation = Concat(conversation, r.Tokens, EngineDriver.RandomPrompt(80 + turn, 6));
        }
    }

    [Test]
    public async Task Cache_off_reports_no_cached_tokens_and_matches_oracle()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 1, prefixCache: false);
        var prompt = EngineDriver.RandomPrompt(90, 40);
        await RunChecked(engine, prompt, 8);
        var again = await RunChecked(engine, prompt, 8);
        await Assert.That(again.CachedTokens).IsEqualTo(0);
        await Assert.That(engine.Cache).IsNull();
    }

    [Test]
    public async Task Forced_hash_collisions_are_detected_and_treated_as_misses()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 1);
        engine.Cache!.HashOverride = (parent, tokens) => parent + 1;   // every block of a given depth collides
        var a = EngineDriver.RandomPrompt(100, 40);
        var b = EngineDriver.RandomPrompt(101, 40);
        await RunChecked(engine, a, 6);
        await RunChecked(engine, EngineDriver.RandomPrompt(102, 30), 2);   // evict a's resident row KV
        var rb = await RunChecked(engine, b, 6);
        await Assert.That(rb.CachedTokens).IsEqualTo(0);
        var ra = await RunChecked(engine, a, 6);
        await Assert.That(ra.CachedTokens).IsEqualTo(32);   // a's own chain still verifies
        await Assert.That(engine.Cache.CheckInvariants()).IsNull();
    }

    [Test]
    public async Task Request_arriving_while_the_first_still_runs_reuses_its_committed_blocks()
    {
        using var engine = EngineDriver.Start(Dir, maxBatchSize: 2);
        // The tiny model decodes 200 tokens in milliseconds; 1 ms per decode step keeps the first request running while
        // the second arrives, even on a loaded machine.
        engine.BeforeRun = prefill => { if (!prefill) Thread.Sleep(1); };
        var prompt = EngineDriver.RandomPrompt(110, 64);
        var first = EngineDriver.Submit(engine, new GenerationRequest(prompt, SamplingParams.Greedy, 200, ignoreEos: true));
        await first.WaitForTokensAsync(2);
        var second = await RunChecked(engine, prompt, 10);
        await Assert.That(first.Completion.IsCompleted).IsFalse();
        await Assert.That(second.CachedTokens).IsEqualTo(48);
        engine.Cancel(first.Request);
        await first.Completion;
    }
}
