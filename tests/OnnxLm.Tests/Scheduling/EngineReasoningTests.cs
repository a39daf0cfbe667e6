using System.Text;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>
/// The engine's reasoning split on real vocabularies (DeepSeek-R1-Distill, Qwen3) over scripted token sequences: the
/// model's sampled token is replaced by the script (<see cref="InferenceEngine.TokenScript"/>), so the ids, the
/// detokenizer, the stop matcher and the event ring are the real ones. The oracle is vLLM's own algorithm: decode every
/// generated token (the tags are non-special, so they decode to their text), drop a leading <c>&lt;think&gt;</c>, and
/// partition at the first <c>&lt;/think&gt;</c>.
/// </summary>
public class EngineReasoningTests
{
    /// <summary>What one request produced, split by the events' <see cref="TokenEvent.Reasoning"/> flag.</summary>
    sealed record Split(string Reasoning, string Content, int ReasoningTokens, int[] Tokens, FinishReason Finish);

    static async Task<Split> RunAsync(InferenceEngine engine, GenerationRequest request)
    {
        await Assert.That(engine.TrySubmit(request)).IsTrue();
        var reasoning = new List<byte>();
        var content = new List<byte>();
        var tokens = new List<int>();
        int reasoningTokens = 0;
        var finish = FinishReason.None;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await request.Events.WaitToReadAsync(timeout.Token))
        {
            while (request.Events.TryRead(out var ev))
            {
                switch (ev.Kind)
                {
                    case TokenEventKind.Token or TokenEventKind.Text:
                        if (ev.Kind == TokenEventKind.Token)
                        {
                            tokens.Add(ev.TokenId);
                            if (ev.Reasoning) reasoningTokens++;
                        }
                        (ev.Reasoning ? reasoning : content).AddRange(ev.TextBytes.ToArray());
                        break;
                    case TokenEventKind.Finished:
                        finish = ev.Finish;
                        break;
                    case TokenEventKind.Error:
                        throw new InvalidOperationException(ev.Error);
                }
            }
        }
        return new Split(Encoding.UTF8.GetString(reasoning.ToArray()), Encoding.UTF8.GetString(content.ToArray()), reasoningTokens, [.. tokens], finish);
    }

    /// <summary>vLLM's split of the whole decoded output (<c>BaseThinkingReasoningParser.extract_reasoning</c>), for a
    /// prompt that opened the thought or an output that opens it.</summary>
    static (string Reasoning, string Content) VllmSplit(TokenVocabulary vocabulary, IEnumerable<int> tokens)
    {
        var d = new IncrementalDetokenizer(vocabulary);
        var bytes = new List<byte>();
        foreach (int t in tokens)
        {
            d.Append(t, skipSpecial: true);
            bytes.AddRange(d.TakeCompleted().ToArray());
        }
        bytes.AddRange(d.Flush().ToArray());
        string text = Encoding.UTF8.GetString(bytes.ToArray());
        if (text.StartsWith("<think>", StringComparison.Ordinal)) text = text["<think>".Length..];
        int end = text.IndexOf("</think>", StringComparison.Ordinal);
        return end < 0 ? (text, "") : (text[..end], text[(end + "</think>".Length)..]);
    }

    static GenerationRequest Scripted(InferenceEngine engine, int[] prompt, int[] script, int maxTokens, ReasoningTags? tags,
        IReadOnlyList<string>? stop = null, ulong seed = 0)
    {
        // The script is keyed by the request's seed, so concurrent requests of one engine each follow their own.
        var request = new GenerationRequest(prompt, new SamplingParams { Temperature = 0, Seed = seed }, maxTokens, stop)
        {
            Reasoning = tags,
            PromptOpensReasoning = tags is { } t && t.OpenedBy(prompt, engine.Vocabulary),
        };
        Scripts[(engine, seed)] = script;
        return request;
    }

    static readonly System.Collections.Concurrent.ConcurrentDictionary<(InferenceEngine, ulong), int[]> Scripts = new();

    static InferenceEngine Start(string model)
    {
        var engine = EngineDriver.Start(model, maxBatchSize: 4);
        engine.TokenScript = (request, index) =>
            request.Sampling.Seed is ulong seed && Scripts.TryGetValue((engine, seed), out var script) && index < script.Length ? script[index] : null;
        return engine;
    }

    /// <summary>The R1 template's generation prompt: the thought is opened by the prompt.</summary>
    static int[] R1Prompt(InferenceEngine engine) => engine.Prompts.Encode("<｜begin▁of▁sentence｜><｜User｜>Why is the sky blue?<｜Assistant｜><think>\n");

    static int[] Words(InferenceEngine engine, string text) => engine.Prompts.Encode(text);

    /// <summary>A token that is one lone UTF-8 lead byte (byte-level BPE has one per byte): text ending in it is unfinished.</summary>
    static int LeadByteToken(TokenVocabulary vocabulary)
    {
        for (int id = 0; id < vocabulary.Count; id++)
            if (vocabulary.GetBytes(id) is [0xE4]) return id;
        throw new InvalidOperationException("no single-byte token 0xE4");
    }

    [Test]
    public async Task R1_prompt_opens_the_thought_and_the_closing_tag_splits_reasoning_from_content()
    {
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        await Assert.That(tags).IsEqualTo(new ReasoningTags(151_648, 151_649));
        int[] script = [.. Words(engine, "The air scatters blue light."), tags.Close, .. Words(engine, "\n\nRayleigh scattering.")];
        var prompt = R1Prompt(engine);
        await Assert.That(tags.OpenedBy(prompt, engine.Vocabulary)).IsTrue();

        var split = await RunAsync(engine, Scripted(engine, prompt, script, script.Length, tags));

        await Assert.That(split.Tokens).IsEquivalentTo(script);
        await Assert.That(split.Reasoning).IsEqualTo("The air scatters blue light.");
        // As vLLM: the text after the tag is the content verbatim, its leading newlines included.
        await Assert.That(split.Content).IsEqualTo("\n\nRayleigh scattering.");
        await Assert.That(split.ReasoningTokens).IsEqualTo(Array.IndexOf(script, tags.Close) + 1);
        await Assert.That(split.Finish).IsEqualTo(FinishReason.Length);
        var (reasoning, content) = VllmSplit(engine.Vocabulary, script);
        await Assert.That(split.Reasoning).IsEqualTo(reasoning);
        await Assert.That(split.Content).IsEqualTo(content);
    }

    [Test]
    public async Task Random_scripts_split_as_vllm_splits_the_decoded_text()
    {
        // Ordinary ids drawn from the whole vocabulary (multibyte and partial-UTF-8 tokens included), the closing tag at a
        // random place, sometimes right after a lone UTF-8 lead byte, sometimes never.
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int lead = LeadByteToken(engine.Vocabulary);
        var prompt = R1Prompt(engine);
        var rng = new Random(11);
        for (int run = 0; run < 24; run++)
        {
            int length = rng.Next(1, 40);
            var script = new int[length];
            for (int i = 0; i < length; i++) script[i] = rng.Next(151_643);   // below the added tokens
            int close = rng.Next(-length / 3, length);   // negative: the thought never closes
            if (close >= 0)
            {
                script[close] = tags.Close;
                if (close > 0 && run % 3 == 0) script[close - 1] = lead;
            }
            var split = await RunAsync(engine, Scripted(engine, prompt, script, length, tags, seed: (ulong)run));
            var (reasoning, content) = VllmSplit(engine.Vocabulary, script);
            await Assert.That(split.Reasoning).IsEqualTo(reasoning);
            await Assert.That(split.Content).IsEqualTo(content);
            await Assert.That(split.ReasoningTokens).IsEqualTo(close >= 0 ? close + 1 : length);
            await Assert.That(split.Reasoning + split.Content).DoesNotContain("think>");
        }
    }

    [Test]
    public async Task A_generation_that_ends_while_thinking_is_all_reasoning()
    {
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int[] script = [.. Words(engine, "Let me think about it"), tags.Close, .. Words(engine, "Blue.")];
        int thinking = Array.IndexOf(script, tags.Close);

        var split = await RunAsync(engine, Scripted(engine, R1Prompt(engine), script, thinking, tags));

        await Assert.That(split.Finish).IsEqualTo(FinishReason.Length);
        await Assert.That(split.Reasoning).IsEqualTo("Let me think about it");
        await Assert.That(split.Content).IsEqualTo("");
        await Assert.That(split.ReasoningTokens).IsEqualTo(thinking);
    }

    [Test]
    public async Task Qwen3_opens_the_thought_itself_with_its_first_token()
    {
        string model = await RealFamilies.Qwen3.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        await Assert.That(tags).IsEqualTo(new ReasoningTags(151_667, 151_668));
        var prompt = engine.Prompts.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        await Assert.That(tags.OpenedBy(prompt, engine.Vocabulary)).IsFalse();
        int[] script = [tags.Open, .. Words(engine, "\nA greeting."), tags.Close, .. Words(engine, "\n\nHello!")];

        var split = await RunAsync(engine, Scripted(engine, prompt, script, script.Length, tags));

        await Assert.That(split.Reasoning).IsEqualTo("\nA greeting.");
        await Assert.That(split.Content).IsEqualTo("\n\nHello!");
        await Assert.That(split.ReasoningTokens).IsEqualTo(Array.IndexOf(script, tags.Close) + 1);
        var (reasoning, content) = VllmSplit(engine.Vocabulary, script);
        await Assert.That((split.Reasoning, split.Content)).IsEqualTo((reasoning, content));
    }

    [Test]
    public async Task Without_an_opening_tag_first_the_output_is_all_content_and_later_tags_are_dropped()
    {
        // Qwen3 with enable_thinking=false: the template closes an empty thought, the model answers directly.
        string model = await RealFamilies.Qwen3.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        var prompt = engine.Prompts.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
        await Assert.That(tags.OpenedBy(prompt, engine.Vocabulary)).IsFalse();
        int[] script = [.. Words(engine, "Hello"), tags.Open, .. Words(engine, " there"), tags.Close];

        var split = await RunAsync(engine, Scripted(engine, prompt, script, script.Length, tags));

        await Assert.That(split.Reasoning).IsEqualTo("");
        await Assert.That(split.Content).IsEqualTo("Hello there");
        await Assert.That(split.ReasoningTokens).IsEqualTo(0);
    }

    [Test]
    public async Task Text_held_for_a_stop_string_at_the_closing_tag_stays_in_the_reasoning()
    {
        // "sky" is held back as a possible start of the stop string "sky!" when the thought closes: it is the thought's
        // text, and the stop string cannot complete across the tag (in vLLM the tag's text sits between).
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int[] script = [.. Words(engine, "The sky"), tags.Close, .. Words(engine, "! Blue.")];

        var split = await RunAsync(engine, Scripted(engine, R1Prompt(engine), script, script.Length, tags, stop: [" sky!"]));

        await Assert.That(split.Reasoning).IsEqualTo("The sky");
        await Assert.That(split.Content).IsEqualTo("! Blue.");
        await Assert.That(split.Finish).IsEqualTo(FinishReason.Length);
    }

    [Test]
    public async Task A_stop_string_inside_the_thought_ends_the_generation_with_everything_in_reasoning()
    {
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int[] script = [.. Words(engine, "First this, then that."), tags.Close, .. Words(engine, "Done.")];

        var split = await RunAsync(engine, Scripted(engine, R1Prompt(engine), script, script.Length, tags, stop: [", then"]));

        await Assert.That(split.Finish).IsEqualTo(FinishReason.Stop);
        await Assert.That(split.Reasoning).IsEqualTo("First this");
        await Assert.That(split.Content).IsEqualTo("");
    }

    [Test]
    public async Task Without_tags_on_the_request_the_tags_are_text_like_any_added_token()
    {
        // --reasoning-format none and text completions: the raw decoded text, tags included, all of it content.
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int[] script = [.. Words(engine, "Hmm."), tags.Close, .. Words(engine, "\n\nBlue.")];

        var split = await RunAsync(engine, Scripted(engine, R1Prompt(engine), script, script.Length, tags: null));

        await Assert.That(split.Reasoning).IsEqualTo("");
        await Assert.That(split.Content).IsEqualTo("Hmm.</think>\n\nBlue.");
        await Assert.That(split.ReasoningTokens).IsEqualTo(0);
    }

    [Test]
    public async Task Decode_steps_of_a_reasoning_request_allocate_nothing_on_the_engine_thread()
    {
        // Engine-thread bytes per step (sampled right before each decode run, as perf's AllocationProbe does) over a window
        // that spans the thought, the closing tag and the answer. A first identical request warms every path.
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        using var engine = Start(model);
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        int[] words = Words(engine, " one two three four five six seven eight nine ten");
        int[] script = [.. Enumerable.Repeat(words, 12).SelectMany(w => w), tags.Close, .. Enumerable.Repeat(words, 12).SelectMany(w => w)];
        var prompt = R1Prompt(engine);
        await RunAsync(engine, Scripted(engine, prompt, script, script.Length, tags, seed: 100));

        var samples = new long[4096];
        int count = 0;
        int close = Array.IndexOf(script, tags.Close);
        var request = Scripted(engine, prompt, script, script.Length, tags, seed: 101);
        engine.BeforeRun = prefill =>
        {
            if (!prefill && count < samples.Length) samples[count++] = GC.GetAllocatedBytesForCurrentThread();
        };
        Split split;
        try
        {
            split = await RunAsync(engine, request);
        }
        finally
        {
            engine.BeforeRun = null;
        }
        await Assert.That(split.ReasoningTokens).IsEqualTo(close + 1);
        // Steps [10, count - 10): well past admission and the first decode steps, well before the end.
        await Assert.That(count).IsGreaterThan(close + 20);
        await Assert.That(samples[count - 10] - samples[10]).IsEqualTo(0L);
    }

    [Test]
    public async Task A_vocabulary_without_think_tokens_has_no_tags()
    {
        var qwen25 = TokenVocabulary.Load(await RealFamilies.Qwen25.TokenizerJsonAsync());
        await Assert.That(ReasoningTags.Find(qwen25)).IsNull();
        var tiny = TokenVocabulary.Load(Path.Combine(TestModels.TinyFp32, "tokenizer.json"));
        await Assert.That(ReasoningTags.Find(tiny)).IsNull();
    }
}
