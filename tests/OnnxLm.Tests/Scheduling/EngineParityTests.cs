using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>
/// The engine's greedy tokens must equal GenAI Generator's on the same model, in every batching scenario
/// (ENGINE.md §3): alone, several rows at different lengths, joining mid-decode, leaving with compaction, chunked prefill,
/// and a long prompt prefilling in chunks while others decode. Each scenario runs on fp32 and int4 weights.
/// </summary>
public class EngineParityTests
{
    public static IEnumerable<Func<string>> Models() => [() => "fp32", () => "int4"];

    static string Dir(string kind) => kind == "fp32" ? TestModels.TinyFp32 : TestModels.TinyInt4;

    static async Task AssertMatchesOracle(string dir, InferenceEngine engine, int[] prompt, RunResult result, int maxTokens)
    {
        var expected = Oracle.GreedyTokens(dir, prompt, maxTokens);
        var actual = result.TokensWithoutEos(engine.Contract.Config.EosTokenIds);
        await Assert.That(result.Error).IsNull();
        await Assert.That(string.Join(",", actual)).IsEqualTo(string.Join(",", expected));
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Single_request_matches_oracle(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir);
        var prompt = EngineDriver.RandomPrompt(1, 23);
        var result = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 40));
        await AssertMatchesOracle(dir, engine, prompt, result, 40);
        await Assert.That(result.PromptTokens).IsEqualTo(23);
        await Assert.That(result.CompletionTokens).IsEqualTo(result.Tokens.Length);
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Requests_of_different_lengths_decode_together_and_match_oracle(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, maxBatchSize: 4);
        int[] lengths = [5, 17, 33, 64];
        var prompts = lengths.Select((n, i) => EngineDriver.RandomPrompt(10 + i, n)).ToArray();
        var collectors = prompts.Select(p => EngineDriver.Submit(engine, EngineDriver.Greedy(p, 30))).ToArray();
        for (int i = 0; i < prompts.Length; i++)
            await AssertMatchesOracle(dir, engine, prompts[i], await collectors[i].Completion, 30);
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Request_joining_mid_decode_matches_oracle(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, maxBatchSize: 4);
        var first = EngineDriver.RandomPrompt(20, 12);
        var second = EngineDriver.RandomPrompt(21, 29);
        var a = EngineDriver.Submit(engine, new GenerationRequest(first, Engine.Sampling.SamplingParams.Greedy, 60, ignoreEos: true));
        await a.WaitForTokensAsync(10);
        var b = EngineDriver.Submit(engine, EngineDriver.Greedy(second, 30));
        var ra = await a.Completion;
        await Assert.That(ra.Tokens.Length).IsEqualTo(60);
        // ignore_eos: compare the oracle's prefix up to its EOS.
        var expectedA = Oracle.GreedyTokens(dir, first, 60);
        await Assert.That(string.Join(",", ra.Tokens.Take(expectedA.Length))).IsEqualTo(string.Join(",", expectedA));
        await AssertMatchesOracle(dir, engine, second, await b.Completion, 30);
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Request_leaving_early_compacts_rows_and_others_still_match_oracle(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, maxBatchSize: 4);
        var prompts = Enumerable.Range(0, 4).Select(i => EngineDriver.RandomPrompt(30 + i, 8 + 7 * i)).ToArray();
        int[] maxTokens = [3, 40, 7, 40];   // rows 0 and 2 leave early: the last row is moved into their holes
        var collectors = prompts.Select((p, i) => EngineDriver.Submit(engine, EngineDriver.Greedy(p, maxTokens[i]))).ToArray();
        for (int i = 0; i < prompts.Length; i++)
            await AssertMatchesOracle(dir, engine, prompts[i], await collectors[i].Completion, maxTokens[i]);
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    [Test]
    [Arguments("fp32", 16)]
    [Arguments("fp32", 13)]
    [Arguments("fp32", 8)]
    [Arguments("fp32", 1)]
    [Arguments("fp32", 39)]
    [Arguments("int4", 16)]
    [Arguments("int4", 7)]
    public async Task Chunked_prefill_matches_oracle(string kind, int step)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, prefillStepSize: step);
        var prompt = EngineDriver.RandomPrompt(40 + step, 40);
        var result = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 25));
        await AssertMatchesOracle(dir, engine, prompt, result, 25);
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Long_prompt_prefills_in_chunks_while_others_decode(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, maxBatchSize: 4, prefillStepSize: 16);
        var shortPrompts = Enumerable.Range(0, 2).Select(i => EngineDriver.RandomPrompt(50 + i, 9 + i)).ToArray();
        var decoders = shortPrompts.Select(p => EngineDriver.Submit(engine, new GenerationRequest(p, Engine.Sampling.SamplingParams.Greedy, 80, ignoreEos: true))).ToArray();
        await decoders[0].WaitForTokensAsync(3);
        var longPrompt = EngineDriver.RandomPrompt(60, 300);
        var longRun = EngineDriver.Submit(engine, EngineDriver.Greedy(longPrompt, 20));
        // The 300-token prompt prefills in 19 chunks, each step also decoding both other rows.
        var longResult = await longRun.Completion;
        await AssertMatchesOracle(dir, engine, longPrompt, longResult, 20);
        for (int i = 0; i < decoders.Length; i++)
        {
            var r = await decoders[i].Completion;
            var expected = Oracle.GreedyTokens(dir, shortPrompts[i], 80);
            await Assert.That(string.Join(",", r.Tokens.Take(expected.Length))).IsEqualTo(string.Join(",", expected));
        }
    }

    [Test]
    [MethodDataSource(nameof(Models))]
    public async Task Prefill_chunks_shrink_to_the_decode_budget_while_others_decode(string kind)
    {
        string dir = Dir(kind);
        using var engine = EngineDriver.Start(dir, maxBatchSize: 4, prefillStepSize: 64, decodePrefillTokens: 16, prefixCache: false);
        while (!engine.IsReady) await Task.Delay(5);   // the warm-up's own prefill is not counted
        int prefillRuns = 0;
        // Decode steps of the tiny model take microseconds: 1 ms each keeps the decoder below running while the busy
        // prompt arrives and prefills.
        engine.BeforeRun = prefill =>
        {
            if (prefill) Interlocked.Increment(ref prefillRuns);
            else Thread.Sleep(1);
        };

        // Alone: the whole 64-token prompt is one prefill run.
        var alone = EngineDriver.RandomPrompt(70, 64);
        var aloneResult = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(alone, 12));
        await Assert.That(Volatile.Read(ref prefillRuns)).IsEqualTo(1);
        await AssertMatchesOracle(dir, engine, alone, aloneResult, 12);

        // While another sequence decodes: 16-token chunks, so the decoder waits for at most 16 prompt tokens per step.
        var decoderPrompt = EngineDriver.RandomPrompt(71, 9);
        var decoder = EngineDriver.Submit(engine, new GenerationRequest(decoderPrompt, Engine.Sampling.SamplingParams.Greedy, 300, ignoreEos: true));
        await decoder.WaitForTokensAsync(3);
        Volatile.Write(ref prefillRuns, 0);
        var busy = EngineDriver.RandomPrompt(72, 64);
        var busyResult = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(busy, 12));
        await Assert.That(Volatile.Read(ref prefillRuns)).IsEqualTo(4);
        await AssertMatchesOracle(dir, engine, busy, busyResult, 12);
        var decoded = await decoder.Completion;
        await Assert.That(decoded.Tokens.Length).IsEqualTo(300);   // still decoding when the busy prompt finished
        var expected = Oracle.GreedyTokens(dir, decoderPrompt, 300);
        await Assert.That(string.Join(",", decoded.Tokens.Take(expected.Length))).IsEqualTo(string.Join(",", expected));
    }
}
