using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Constraints;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>Structured output through the engine: a random-weight model's every finished output is a valid document,
/// and one cut by max_tokens is a prefix the grammar still accepts.</summary>
public class GrammarMaskTests
{
    const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":150},
         "tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},"ok":{"type":"boolean"}},
         "required":["name","age","tags","ok"],"additionalProperties":false}
        """;

    static JsonGrammar Grammar => JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(Schema));

    [Test]
    public async Task Greedy_and_temperature_1_outputs_validate_against_the_schema_including_n_group_forks()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        var validator = new ReferenceValidator(JsonDocument.Parse(Schema).RootElement);
        int stops = 0;
        for (int seed = 0; seed < 4; seed++)
        {
            var prompt = EngineDriver.RandomPrompt(100 + seed, 10);
            var greedy = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, new SamplingParams { Temperature = 0f }, 400) { Grammar = Grammar });
            var group = Enumerable.Range(0, 3)
                .Select(i => new GenerationRequest(prompt, new SamplingParams { Temperature = 1f, TopP = 0.9f, Seed = (ulong)(seed * 10 + i) }, 400) { Grammar = Grammar })
                .ToArray();
            await Assert.That(engine.TrySubmitGroup(group)).IsTrue();
            var sampled = await Task.WhenAll(group.Select(r => new Collector(r).Completion));
            foreach (var r in sampled.Prepend(greedy))
            {
                await Assert.That(r.Error).IsNull();
                if (r.Finish == FinishReason.Stop)
                {
                    stops++;
                    using var doc = JsonDocument.Parse(r.Text);
                    await Assert.That(validator.IsValid(doc.RootElement)).IsTrue().Because(r.Text);
                }
                else
                {
                    await Assert.That(r.Finish).IsEqualTo(FinishReason.Length);
                    var matcher = new GrammarMatcher(Grammar, engine.GrammarTrie);
                    await Assert.That(matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(r.Text))).IsTrue().Because(r.Text);
                }
            }
        }
        await Assert.That(stops).IsGreaterThan(0);
    }

    [Test]
    public async Task A_thought_is_free_text_and_the_answer_after_it_follows_the_grammar()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2);
        var eos = engine.Contract.Config.EosTokenIds;
        // The tiny vocabulary has one special token besides EOS: it closes the thought; the prompt opens it.
        int close = Enumerable.Range(0, engine.Vocabulary.Count).First(id => engine.Vocabulary.IsSpecial(id) && !eos.Contains(id));
        var tags = new ReasoningTags(EngineDriver.RandomPrompt(77, 1)[0], close);
        var validator = new ReferenceValidator(JsonDocument.Parse(Schema).RootElement);
        int[] thought = [.. EngineDriver.RandomPrompt(9, 4), tags.Close];
        engine.TokenScript = (request, index) => index < thought.Length ? thought[index] : null;
        int stops = 0;
        for (int seed = 0; seed < 4; seed++)
        {
            var request = new GenerationRequest([.. EngineDriver.RandomPrompt(20 + seed, 8), tags.Open], new SamplingParams { Temperature = 1f, Seed = (ulong)seed }, 300)
            {
                Grammar = Grammar,
                Reasoning = tags,
                PromptOpensReasoning = true,
            };
            await Assert.That(engine.TrySubmit(request)).IsTrue();
            var reasoning = new List<byte>();
            var content = new List<byte>();
            TokenEvent last = default;
            while (true)
            {
                if (!request.Events.TryRead(out var ev)) { await Task.Delay(1); continue; }
                if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text) (ev.Reasoning ? reasoning : content).AddRange(ev.TextBytes.ToArray());
                if (ev.Kind is TokenEventKind.Finished or TokenEventKind.Error) { last = ev; break; }
            }
            await Assert.That(last.Kind).IsEqualTo(TokenEventKind.Finished);
            await Assert.That(reasoning.Count).IsGreaterThan(0);
            string answer = Encoding.UTF8.GetString(content.ToArray());
            if (last.Finish == FinishReason.Stop)
            {
                stops++;
                using var doc = JsonDocument.Parse(answer);
                await Assert.That(validator.IsValid(doc.RootElement)).IsTrue().Because(answer);
            }
            else await Assert.That(new GrammarMatcher(Grammar, engine.GrammarTrie).TryAdvanceBytes(Encoding.UTF8.GetBytes(answer))).IsTrue();
        }
        await Assert.That(stops).IsGreaterThan(0);
    }

    [Test]
    public async Task A_length_cut_leaves_a_viable_prefix()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2);
        var r = await EngineDriver.RunAsync(engine, new GenerationRequest(EngineDriver.RandomPrompt(5, 8), new SamplingParams { Temperature = 1f, Seed = 3 }, 3) { Grammar = Grammar });
        await Assert.That(r.Finish).IsEqualTo(FinishReason.Length);
        await Assert.That(r.Text).StartsWith("{");
        await Assert.That(new GrammarMatcher(Grammar, engine.GrammarTrie).TryAdvanceBytes(Encoding.UTF8.GetBytes(r.Text))).IsTrue();
    }
}

/// <summary>A constrained step (mask, then advance by the best allowed token) allocates nothing once the matcher exists,
/// the sampled mask timing included.</summary>
public class GrammarMaskAllocationTests
{
    [Test]
    public async Task A_constrained_step_allocates_nothing()
    {
        var trie = ConstraintFixtures.Bytes;
        var mask = new GrammarMask(trie.Vocabulary, [ConstraintFixtures.ByteEos]);
        var grammar = JsonSchemaCompiler.Compile("""{"type":"object","properties":{"a":{"type":"string","maxLength":40},"b":{"type":"integer"}},"required":["a","b"]}"""u8.ToArray());
        var logits = new float[trie.VocabularySize + 5];
        var rng = new Random(1);
        var matcher = mask.NewMatcher(grammar);
        Step(mask, matcher, logits, rng);   // warm-up: JIT and first-use paths
        matcher.Reset();
        long timedBefore = mask.MaskTimes.Count;
        long before = GC.GetAllocatedBytesForCurrentThread();
        int steps = 0;
        while (steps < 200 && Step(mask, matcher, logits, rng)) steps++;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(steps).IsGreaterThan(GrammarMask.MaskSampleInterval);
        await Assert.That(allocated).IsEqualTo(0L);
        // The sampled mask timing (the /metrics histogram) ran inside the zero-allocation window.
        await Assert.That(mask.MaskTimes.Count - timedBefore).IsGreaterThanOrEqualTo(steps / GrammarMask.MaskSampleInterval);
    }

    /// <summary>Masks random logits, takes the best allowed id and advances; false once EOS (or nothing) is allowed best.</summary>
    static bool Step(GrammarMask mask, GrammarMatcher matcher, float[] logits, Random rng)
    {
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)rng.NextDouble();
        mask.Apply(matcher, ignoreEos: false, logits);
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        if (float.IsNegativeInfinity(logits[best]) || best == ConstraintFixtures.ByteEos) return false;
        if (best >= matcher.Trie.VocabularySize) throw new InvalidOperationException("a padded id survived the mask");
        return matcher.TryAdvance(best) ? true : throw new InvalidOperationException($"masked-in token {best} was refused");
    }
}
