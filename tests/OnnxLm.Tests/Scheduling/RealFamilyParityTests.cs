using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>
/// Greedy parity with GenAI's <c>Generator</c> on random-weight models of real families (their real vocabulary width,
/// special ids and chat-rendered prompts): two conversations decoding together, one joining mid-decode, then the first
/// again restored from the prefix cache. GenAI stays the oracle for tokens whatever the vocabulary.
/// </summary>
public sealed class RealFamilyParityTests
{
    public static IEnumerable<Func<RealFamily>> Families() =>
        [() => RealFamilies.Qwen25, () => RealFamilies.Llama32, () => RealFamilies.Phi3, () => RealFamilies.Gemma3, () => RealFamilies.DeepSeekR1Distill];

    [Test]
    [MethodDataSource(nameof(Families))]
    public async Task Greedy_tokens_equal_the_oracles_batched_and_cached(RealFamily family)
    {
        string dir = await family.ModelAsync();
        using var engine = EngineDriver.Start(dir, maxBatchSize: 2, blockSize: 4);
        int[] Chat(string messages) => engine.Prompts.Encode(engine.Prompts.ApplyChatTemplate(messages));
        int[] first = Chat("""[{"role":"system","content":"Be brief."},{"role":"user","content":"Why is the sky blue? Answer in one sentence — merci 🙂"}]""");
        int[] second = Chat("""[{"role":"user","content":"Count from one to five."},{"role":"assistant","content":"One, two, three, four, five."},{"role":"user","content":"Now in German."}]""");
        const int maxTokens = 24;

        var a = EngineDriver.Submit(engine, new GenerationRequest(first, Engine.Sampling.SamplingParams.Greedy, maxTokens));
        await Task.Delay(5);
        var b = EngineDriver.Submit(engine, new GenerationRequest(second, Engine.Sampling.SamplingParams.Greedy, maxTokens));
        await AssertOracle(dir, engine, first, await a.Completion, maxTokens);
        await AssertOracle(dir, engine, second, await b.Completion, maxTokens);

        var again = await EngineDriver.RunAsync(engine, new GenerationRequest(first, Engine.Sampling.SamplingParams.Greedy, maxTokens));
        await AssertOracle(dir, engine, first, again, maxTokens);
        await Assert.That(again.CachedTokens).IsGreaterThanOrEqualTo(first.Length / 4 * 4 - 4);
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    static async Task AssertOracle(string dir, InferenceEngine engine, int[] prompt, RunResult result, int maxTokens)
    {
        await Assert.That(result.Error).IsNull();
        var expected = Oracle.GreedyTokens(dir, prompt, maxTokens);
        var actual = result.TokensWithoutEos(engine.Contract.Config.EosTokenIds);
        await Assert.That(string.Join(",", actual)).IsEqualTo(string.Join(",", expected));
    }
}
