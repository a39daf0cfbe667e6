using System.Text;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>Text leaving the engine: whole UTF-8 characters in order, stop strings cut exactly, chat prompts as GenAI renders them.</summary>
public class EngineTextTests
{
    static string OneShot(string dir, IEnumerable<int> tokens)
    {
        var vocab = TokenVocabulary.Load(Path.Combine(dir, "tokenizer.json"));
        var d = new IncrementalDetokenizer(vocab);
        var bytes = new List<byte>();
        foreach (int t in tokens) d.Append(t, skipSpecial: true);
        bytes.AddRange(d.Flush().ToArray());
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    [Test]
    public async Task Streamed_text_equals_one_shot_decoding_of_the_tokens()
    {
        // Random weights emit partial and invalid UTF-8 constantly: every event must carry whole characters and the
        // concatenation must equal decoding all tokens at once (U+FFFD where invalid, as Hugging Face decode does).
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        var runs = Enumerable.Range(0, 4).Select(i => EngineDriver.Submit(engine,
            new GenerationRequest(EngineDriver.RandomPrompt(90 + i, 7 + i), new SamplingParams { Temperature = 1.3f, Seed = (ulong)i }, 80))).ToArray();
        int multibyte = 0;
        foreach (var run in runs)
        {
            var r = await run.Completion;
            var content = r.TokensWithoutEos(engine.Contract.Config.EosTokenIds);
            await Assert.That(r.Text).IsEqualTo(OneShot(TestModels.TinyFp32, content));
            multibyte += r.Text.Count(c => c > 0x7F);
        }
        await Assert.That(multibyte).IsGreaterThan(0);
    }

    [Test]
    public async Task Each_event_carries_whole_utf8_characters()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var request = new GenerationRequest(EngineDriver.RandomPrompt(95, 12), new SamplingParams { Temperature = 1.5f, Seed = 3 }, 100);
        await Assert.That(engine.TrySubmit(request)).IsTrue();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        int events = 0;
        while (await request.Events.WaitToReadAsync(CancellationToken.None))
        {
            while (request.Events.TryRead(out var ev))
            {
                if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text)
                {
                    strict.GetString(ev.TextBytes);   // throws on a split or invalid character
                    events++;
                }
            }
        }
        await Assert.That(events).IsGreaterThan(0);
    }

    [Test]
    [Arguments(2)]
    [Arguments(5)]
    [Arguments(9)]
    public async Task Stop_string_spanning_tokens_is_cut_exactly(int seed)
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32);
        var prompt = EngineDriver.RandomPrompt(100 + seed, 10);
        var full = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy, 60, ignoreEos: true));
        // Choose a stop string that starts inside one token's text and ends inside a later one.
        var pieces = full.Tokens.Select(t => OneShot(TestModels.TinyFp32, [t])).ToArray();
        int start = -1;
        var rng = new Random(seed);
        for (int i = 3; i < pieces.Length - 3 && start < 0; i++)
        {
            // Token i's text is 2-4 whole characters, so a 4-character stop starting at its second character ends in a later token.
            if (pieces[i].Length is >= 2 and <= 4 && !pieces[i].Contains('\uFFFD') && !pieces[i + 1].Contains('\uFFFD') && rng.Next(2) == 0)
                start = OneShot(TestModels.TinyFp32, full.Tokens.Take(i)).Length + 1;
        }
        await Assert.That(start).IsGreaterThan(0);
        string text = full.Text;
        string stop = text.Substring(start, Math.Min(4, text.Length - start));
        int cut = text.IndexOf(stop, StringComparison.Ordinal);
        var stopped = await EngineDriver.RunAsync(engine, new GenerationRequest(prompt, SamplingParams.Greedy, 60, [stop], ignoreEos: true));
        await Assert.That(stopped.Finish).IsEqualTo(FinishReason.Stop);
        await Assert.That(stopped.Text).IsEqualTo(text[..cut]);
    }

    [Test]
    public async Task Chat_template_renders_chatml_like_genai()
    {
        string dir = TestModels.TinyFp32;
        using var encoder = new PromptEncoder(dir);
        const string messages = """[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there, é 🙂"}]""";
        string ours = encoder.ApplyChatTemplate(messages);
        await Assert.That(ours).IsEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there, é 🙂<|im_end|>\n<|im_start|>assistant\n");
        await Assert.That(ours).IsEqualTo(Oracle.ApplyChatTemplate(dir, messages, addGenerationPrompt: true));
        await Assert.That(string.Join(",", encoder.Encode(ours))).IsEqualTo(string.Join(",", Oracle.Encode(dir, ours)));
    }
}
