using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Constraints;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// Every tool-call format over real vocabularies (byte-level BPE with the markers as added tokens, without them, and
/// SentencePiece with byte fallback): random walks through the mask always produce calls the parser reads back with
/// an allowed name and schema-valid arguments; wrong names, invalid arguments and early EOS are impossible; the free-text
/// trigger never starts a call in the middle of a token; detection picks each family's format.
/// </summary>
public sealed class ToolCallFormatTests
{
    static readonly Dictionary<string, string?> Schemas = new()
    {
        ["get_weather"] = """{"type":"object","properties":{"city":{"type":"string","maxLength":6},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"],"additionalProperties":false}""",
        ["get"] = """{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}""",
        ["now"] = null,
    };

    static readonly Dictionary<string, Lazy<TokenTrie>> Tries = new()
    {
        ["qwen2.5"] = Trie(RealFamilies.Qwen25),
        ["llama-3.2"] = Trie(RealFamilies.Llama32),
        ["phi-3"] = Trie(RealFamilies.Phi3),
        ["deepseek-v3"] = Trie(RealFamilies.DeepSeekV3),
    };

    static Lazy<TokenTrie> Trie(RealFamily family) =>
        new(() => new TokenTrie(TokenVocabulary.Load(family.TokenizerJsonAsync().GetAwaiter().GetResult())));

    public static IEnumerable<Func<(string Format, string Vocabulary)>> Cases() =>
        from f in ToolCallFormat.All from v in Tries.Keys select (Func<(string, string)>)(() => (f.Name, v));

    static JsonGrammar Arguments(string name) =>
        JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(Schemas[name] ?? """{"type":"object","properties":{},"additionalProperties":false}"""));

    static ToolCallGrammar Grammar(ToolCallFormat format, TokenTrie trie, ToolChoiceMode mode, bool parallel, string[]? names = null, JsonGrammar? response = null)
    {
        names ??= [.. Schemas.Keys];
        return new ToolCallGrammar(format, trie, names, [.. names.Select(Arguments)], mode, parallel, response);
    }

    static List<int> Allowed(ToolCallMatcher m, out bool restricted)
    {
        var bits = new ulong[m.MaskWords];
        restricted = m.ComputeMask(bits);
        var ids = new List<int>();
        for (int w = 0; w < bits.Length; w++)
            for (ulong b = bits[w]; b != 0; b &= b - 1)
                ids.Add((w << 6) + System.Numerics.BitOperations.TrailingZeroCount(b));
        return ids;
    }

    /// <summary>Samples uniformly among the allowed ids until the matcher accepts (and a coin says stop, or nothing can follow).</summary>
    static List<int> RandomWalk(ToolCallMatcher m, Random rng, int maxSteps = 5000)
    {
        var tokens = new List<int>();
        for (int step = 0; step < maxSteps; step++)
        {
            if (m.IsAccepting && (!m.CanContinue || rng.Next(2) == 0)) return tokens;
            var allowed = Allowed(m, out bool restricted);
            if (!restricted) throw new InvalidOperationException("a call is in progress: the mask must restrict");
            if (allowed.Count == 0) throw new InvalidOperationException("dead end: no token allowed and not accepting");
            int token = allowed[rng.Next(allowed.Count)];
            if (!m.TryAdvance(token)) throw new InvalidOperationException($"the mask allowed {token} but the matcher refused it");
            tokens.Add(token);
        }
        throw new InvalidOperationException("no end within the step limit");
    }

    static ToolCallParser Parse(ToolCallFormat format, TokenTrie trie, IEnumerable<int> tokens, bool startsInCall)
    {
        var vocabulary = trie.Vocabulary;
        var parser = new ToolCallParser(format, vocabulary, startsInCall);
        foreach (int t in tokens) parser.Feed(t, vocabulary.IsSpecial(t) ? default : vocabulary.GetBytes(t));
        parser.Finish();
        return parser;
    }

    static async Task CheckCalls(ToolCallParser parser, IReadOnlyCollection<string> allowed, string context)
    {
        await Assert.That(parser.HasCalls).IsTrue().Because(context);
        foreach (var call in parser.Calls)
        {
            await Assert.That(call.Complete).IsTrue().Because(context);
            await Assert.That(allowed).Contains(call.Name!).Because(context);
            string arguments = Encoding.UTF8.GetString(call.Arguments);
            using var doc = JsonDocument.Parse(arguments);
            if (Schemas[call.Name!] is { } schema)
            {
                using var s = JsonDocument.Parse(schema);
                await Assert.That(new ReferenceValidator(s.RootElement).IsValid(doc.RootElement)).IsTrue().Because($"{context}: {arguments}");
            }
            else await Assert.That(arguments).IsEqualTo("{}").Because(context);
        }
    }

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Random_walks_through_the_mask_always_parse_back_to_valid_calls((string Format, string Vocabulary) c)
    {
        var format = ToolCallFormat.Find(c.Format)!;
        var trie = Tries[c.Vocabulary].Value;
        var rng = new Random(17);
        int several = 0;
        foreach (bool parallel in new[] { false, true })
        {
            for (int run = 0; run < 8; run++)
            {
                var m = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Required, parallel));
                await Assert.That(m.IsAccepting).IsFalse().Because("EOS is impossible before a call");
                var tokens = RandomWalk(m, rng);
                var parser = Parse(format, trie, tokens, startsInCall: true);
                string context = $"{format}/{c.Vocabulary}: {Encoding.UTF8.GetString([.. tokens.SelectMany(t => trie.Vocabulary.GetBytes(t).ToArray())])}";
                await CheckCalls(parser, Schemas.Keys, context);
                await Assert.That(parser.Content.Length).IsEqualTo(0).Because(context);
                await Assert.That(parser.Calls.Count).IsEqualTo(m.Calls).Because(context);
                if (!parallel) await Assert.That(parser.Calls.Count).IsEqualTo(1).Because(context);
                if (parser.Calls.Count > 1) several++;
            }
        }
        await Assert.That(several).IsGreaterThan(0).Because("parallel walks sometimes take another call");
    }

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task A_named_choice_allows_that_name_only((string Format, string Vocabulary) c)
    {
        var format = ToolCallFormat.Find(c.Format)!;
        var trie = Tries[c.Vocabulary].Value;
        var rng = new Random(5);
        for (int run = 0; run < 4; run++)
        {
            // "get" is a prefix of "get_weather": the name's end marker keeps them apart.
            var m = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Required, parallel: false, names: ["get"]));
            var parser = Parse(format, trie, RandomWalk(m, rng), startsInCall: true);
            await CheckCalls(parser, ["get"], $"{format}/{c.Vocabulary}");
        }
    }

    /// <summary>Advances by text: a marker the format writes as one token is that token, every other byte its
    /// single-byte token; false at the first token the matcher refuses.</summary>
    static bool Feed(ToolCallMatcher m, TokenTrie trie, ToolCallFormat format, string text)
    {
        var vocabulary = trie.Vocabulary;
        int i = 0;
        while (i < text.Length)
        {
            string? marker = format.Markers.FirstOrDefault(k => string.CompareOrdinal(text, i, k, 0, k.Length) == 0 && vocabulary.FindToken(k) is not null);
            if (marker is not null)
            {
                if (!m.TryAdvance(vocabulary.FindToken(marker)!.Value)) return false;
                i += marker.Length;
                continue;
            }
            int length = char.IsSurrogatePair(text, i) ? 2 : 1;
            foreach (byte b in Encoding.UTF8.GetBytes(text.Substring(i, length)))
                if (SingleByteToken(trie, b) is not int id || !m.TryAdvance(id)) return false;
            i += length;
        }
        return true;
    }

    static int? SingleByteToken(TokenTrie trie, byte b)
    {
        var v = trie.Vocabulary;
        for (int id = 0; id < v.Count; id++)
        {
            if (!v.IsSpecial(id) && v.IsDefined(id) && v.GetBytes(id) is { Length: 1 } bytes && bytes[0] == b) return id;
        }
        return null;
    }

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Wrong_names_invalid_arguments_and_early_ends_are_refused((string Format, string Vocabulary) c)
    {
        var format = ToolCallFormat.Find(c.Format)!;
        var trie = Tries[c.Vocabulary].Value;
        var grammar = Grammar(format, trie, ToolChoiceMode.Required, parallel: false);
        string Call(string name, string args) => format.First + name + format.NameEnd + args + format.Last;

        var good = new ToolCallMatcher(grammar);
        await Assert.That(Feed(good, trie, format, Call("get_weather", """{"city":"Paris","unit":"celsius"}"""))).IsTrue();
        await Assert.That(good.IsAccepting).IsTrue();
        await Assert.That(good.CanContinue).IsFalse();

        string[] bad =
        [
            Call("get_wether", """{"city":"Paris","unit":"celsius"}"""),                // not a tool
            Call("get_weather", """{"unit":"celsius","city":"Paris"}"""),              // order / required first
            Call("get_weather", """{"city":"Paris","unit":"kelvin"}"""),               // enum
            Call("get_weather", """{"city":"Paris","unit":"celsius","days":9}"""),     // maximum
            Call("get_weather", """{"city":"Paris","unit":"celsius","x":1}"""),        // additional property
            Call("get_weather", """{"city": "Paris","unit":"celsius"}"""),             // whitespace (minified)
            Call("now", """{"a":1}"""),                                                  // parameterless
        ];
        foreach (string text in bad)
        {
            var m = new ToolCallMatcher(grammar);
            await Assert.That(Feed(m, trie, format, text)).IsFalse().Because(text);
        }
        var partial = new ToolCallMatcher(grammar);
        await Assert.That(Feed(partial, trie, format, format.First + "get_weather" + format.NameEnd + "{\"city\":\"P")).IsTrue();
        await Assert.That(partial.IsAccepting).IsFalse().Because("EOS only at the end of a call");
    }

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Auto_leaves_text_free_until_the_trigger_then_enforces_a_call((string Format, string Vocabulary) c)
    {
        var format = ToolCallFormat.Find(c.Format)!;
        var trie = Tries[c.Vocabulary].Value;
        var vocabulary = trie.Vocabulary;
        var m = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Auto, parallel: false));
        string text = "Let me check. ";
        await Assert.That(Feed(m, trie, format, text)).IsTrue();
        await Assert.That(m.InFreeText).IsTrue();
        await Assert.That(m.IsAccepting).IsTrue().Because("free text may end");
        string call = format.First + "get" + format.NameEnd + "{\"ok\":true}" + format.Last;
        await Assert.That(Feed(m, trie, format, call)).IsTrue();
        await Assert.That(m.InFreeText).IsFalse();
        await Assert.That(m.IsAccepting && !m.CanContinue).IsTrue();

        // The parser reads the same stream back: the text is content, then one call.
        var parser = new ToolCallParser(format, vocabulary, startsInCall: false);
        parser.Feed(Encoding.UTF8.GetBytes(text));
        foreach (var piece in Pieces(format, vocabulary, call)) parser.Feed(piece.Token, piece.Text);
        parser.Finish();
        await Assert.That(Encoding.UTF8.GetString(parser.Content)).IsEqualTo(text);
        await Assert.That(parser.Calls.Count).IsEqualTo(1);
        await Assert.That(parser.Calls[0].Name).IsEqualTo("get");
        await Assert.That(Encoding.UTF8.GetString(parser.Calls[0].Arguments)).IsEqualTo("{\"ok\":true}");

        // Once a call started, a wrong name is refused even in auto mode.
        var strict = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Auto, parallel: false));
        await Assert.That(Feed(strict, trie, format, format.First + "nope")).IsFalse();
    }

    /// <summary>The stream as the responder sees it: a marker the vocabulary has as a token is that token (with no text
    /// when it is special, its own text otherwise), other text as bytes.</summary>
    static IEnumerable<(int Token, byte[] Text)> Pieces(ToolCallFormat format, TokenVocabulary vocabulary, string text)
    {
        int i = 0, start = 0;
        while (i < text.Length)
        {
            string? marker = format.Markers.FirstOrDefault(k => string.CompareOrdinal(text, i, k, 0, k.Length) == 0 && vocabulary.FindToken(k) is not null);
            if (marker is null)
            {
                i++;
                continue;
            }
            if (i > start) yield return (-1, Encoding.UTF8.GetBytes(text[start..i]));
            int token = vocabulary.FindToken(marker)!.Value;
            yield return (token, vocabulary.IsSpecial(token) ? [] : Encoding.UTF8.GetBytes(marker));
            i += marker.Length;
            start = i;
        }
        if (start < text.Length) yield return (-1, Encoding.UTF8.GetBytes(text[start..]));
    }

    [Test]
    public async Task A_spelled_trigger_never_starts_a_call_inside_a_token()
    {
        // Llama 3.x's trigger is plain text ({"name": "): for every partial match, exactly the tokens that would finish it
        // and run on are masked, over the whole 128k vocabulary.
        var format = ToolCallFormat.Llama3;
        var trie = Tries["llama-3.2"].Value;
        var vocabulary = trie.Vocabulary;
        byte[] trigger = Encoding.UTF8.GetBytes(format.Trigger);
        int forbidden = 0;
        for (int held = 0; held < trigger.Length; held++)
        {
            var m = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Auto, parallel: false));
            await Assert.That(Feed(m, trie, format, "Hi " + format.Trigger[..held])).IsTrue();
            var bits = new ulong[m.MaskWords];
            bool restricted = m.ComputeMask(bits);
            for (int id = 0; id < vocabulary.Count; id++)
            {
                if (!vocabulary.IsDefined(id) || vocabulary.IsSpecial(id)) continue;
                byte[] seen = [.. trigger[..held], .. vocabulary.GetBytes(id).ToArray()];
                int at = seen.AsSpan().IndexOf(trigger);
                bool runsOn = at >= 0 && at + trigger.Length < seen.Length;
                bool allowed = !restricted || (bits[id >> 6] & (1UL << id)) != 0;
                if (allowed == runsOn)
                    throw new InvalidOperationException($"held {held}: token {id} '{Encoding.UTF8.GetString(vocabulary.GetBytes(id))}' allowed={allowed} runsOn={runsOn}");
                if (runsOn) forbidden++;
            }
        }
        await Assert.That(forbidden).IsGreaterThan(0).Because("some tokens finish the trigger and run on");
    }

    [Test]
    public async Task None_masks_a_marker_token_and_auto_with_a_response_format_gives_valid_json_or_a_call()
    {
        var trie = Tries["qwen2.5"].Value;
        int marker = trie.Vocabulary.FindToken("<tool_call>")!.Value;
        var none = new ToolCallMatcher(Grammar(ToolCallFormat.Hermes, trie, ToolChoiceMode.None, parallel: true));
        var bits = new ulong[none.MaskWords];
        await Assert.That(none.ComputeMask(bits)).IsTrue();
        await Assert.That(bits[marker >> 6] & (1UL << marker)).IsEqualTo(0UL);
        await Assert.That(none.TryAdvance(marker)).IsFalse();

        const string answer = """{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":9}},"required":["n"]}""";
        var response = JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(answer));
        using var answerSchema = JsonDocument.Parse(answer);
        var rng = new Random(3);
        int calls = 0, answers = 0;
        for (int run = 0; run < 40; run++)
        {
            var m = new ToolCallMatcher(Grammar(ToolCallFormat.Hermes, trie, ToolChoiceMode.Auto, parallel: false, response: response));
            // Half the runs are pushed to the call by starting with the marker token.
            var tokens = new List<int>();
            if (run % 2 == 0)
            {
                await Assert.That(m.TryAdvance(marker)).IsTrue();
                tokens.Add(marker);
            }
            tokens.AddRange(RandomWalk(m, rng));
            var parser = Parse(ToolCallFormat.Hermes, trie, tokens, startsInCall: false);
            if (parser.Calls.Count > 0)
            {
                calls++;
                await CheckCalls(parser, Schemas.Keys, "auto+response_format");
            }
            else
            {
                answers++;
                using var doc = JsonDocument.Parse(parser.Content.ToArray());
                await Assert.That(new ReferenceValidator(answerSchema.RootElement).IsValid(doc.RootElement)).IsTrue();
            }
        }
        await Assert.That(calls).IsGreaterThanOrEqualTo(20);
        await Assert.That(answers).IsGreaterThan(0);
    }

    [Test]
    public async Task Each_family_gets_its_format_from_its_template_and_vocabulary()
    {
        (RealFamily Family, ToolCallFormat Expected)[] cases =
        [
            (RealFamilies.Qwen25, ToolCallFormat.Hermes),
            (RealFamilies.Qwen3, ToolCallFormat.Hermes),
            (RealFamilies.Llama32, ToolCallFormat.Llama3),
            // The npm llama3_1 files carry Llama 3's plain template and no <|python_tag|> token: nothing names a format.
            (RealFamilies.Llama31, ToolCallFormat.Generic),
            (RealFamilies.DeepSeekR1Distill, ToolCallFormat.DeepSeekR1),
            (RealFamilies.DeepSeekV3, ToolCallFormat.DeepSeekR1),
            (RealFamilies.Phi3, ToolCallFormat.Generic),
            (RealFamilies.Gemma3, ToolCallFormat.Generic),
        ];
        foreach (var (family, expected) in cases)
        {
            var config = JsonNode.Parse(await File.ReadAllTextAsync(await family.TokenizerConfigAsync()))!;
            string? template = config["chat_template"] is JsonValue v ? v.GetValue<string>() : null;
            var vocabulary = TokenVocabulary.Load(await family.TokenizerJsonAsync());
            await Assert.That(ToolCallFormat.Detect(template, vocabulary)).IsEqualTo(expected).Because(family.Name);
        }
        // A Mistral-style vocabulary is recognised by its [TOOL_CALLS] token even without a template.
        await Assert.That(ToolCallFormat.Find("MISTRAL")).IsEqualTo(ToolCallFormat.Mistral);
        await Assert.That(ToolCallFormat.Detect("{% if message.tool_calls %}[TOOL_CALLS] [{% endif %}", null)).IsEqualTo(ToolCallFormat.Mistral);
        await Assert.That(ToolCallFormat.Detect("<|tool_call|>", null)).IsEqualTo(ToolCallFormat.Phi4Mini);
    }

    [Test]
    [Arguments("hermes", "qwen2.5")]
    [Arguments("llama3", "llama-3.2")]
    public async Task Constrained_tool_steps_allocate_nothing(string formatName, string vocabularyName)
    {
        var format = ToolCallFormat.Find(formatName)!;
        var trie = Tries[vocabularyName].Value;
        var m = new ToolCallMatcher(Grammar(format, trie, ToolChoiceMode.Required, parallel: true));
        int[] tokens = [.. RandomWalk(m, new Random(9))];
        var bits = new ulong[m.MaskWords];
        void Replay()
        {
            m.Reset();
            foreach (int t in tokens)
            {
                m.ComputeMask(bits);
                if (!m.TryAdvance(t)) throw new InvalidOperationException("replay diverged");
                _ = m.IsAccepting && m.CanContinue;
            }
        }
        Replay();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Replay();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(tokens.Length).IsGreaterThan(10);
        await Assert.That(allocated).IsEqualTo(0L);
    }

    [Test]
    public async Task A_trigger_spelled_in_text_is_content_when_the_vocabulary_has_it_as_a_token()
    {
        // Qwen's <tool_call> is an added token: the mask only ever starts a call with it, so the parser does too.
        var vocabulary = Tries["qwen2.5"].Value.Vocabulary;
        int marker = vocabulary.FindToken("<tool_call>")!.Value;
        var parser = new ToolCallParser(ToolCallFormat.Hermes, vocabulary, startsInCall: false);
        parser.Feed(-1, "Use <tool_call> tags. "u8);
        parser.Feed(marker, "<tool_call>"u8);
        parser.Feed(-1, "\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"u8);
        parser.Finish();
        await Assert.That(Encoding.UTF8.GetString(parser.Content)).IsEqualTo("Use <tool_call> tags. ");
        await Assert.That(parser.Calls.Count).IsEqualTo(1);
        await Assert.That(parser.Calls[0].Name).IsEqualTo("now");
        await Assert.That(Encoding.UTF8.GetString(parser.Calls[0].Arguments)).IsEqualTo("{}");
        await Assert.That(parser.HasCalls).IsTrue();
    }

    public static IEnumerable<Func<string>> FormatNames() => ToolCallFormat.All.Select(f => (Func<string>)(() => f.Name));

    [Test]
    [MethodDataSource(nameof(FormatNames))]
    public async Task The_mask_is_exactly_the_set_of_tokens_the_matcher_accepts(string formatName)
    {
        // Brute force over a small byte-level vocabulary (every byte plus a few multi-byte tokens): at every step of
        // random walks, in auto and required mode, an id is in the mask exactly when a fresh matcher replaying the same
        // prefix accepts it.
        var format = ToolCallFormat.Find(formatName)!;
        var trie = ConstraintFixtures.Bytes;
        var rng = new Random(11);
        int checkedStates = 0;
        foreach (var mode in new[] { ToolChoiceMode.Required, ToolChoiceMode.Auto })
        {
            var grammar = Grammar(format, trie, mode, parallel: true);
            var m = new ToolCallMatcher(grammar);
            var prefix = new List<int>();
            if (mode == ToolChoiceMode.Auto)
            {
                // Free text, then the trigger byte by byte.
                foreach (byte b in Encoding.UTF8.GetBytes("ok " + format.Trigger))
                {
                    await Assert.That(m.TryAdvance(b)).IsTrue();
                    prefix.Add(b);
                }
            }
            for (int step = 0; step < 80 && !(m.IsAccepting && !m.CanContinue); step++)
            {
                var bits = new ulong[m.MaskWords];
                bool restricted = m.ComputeMask(bits);
                var allowed = new List<int>();
                for (int id = 0; id < trie.VocabularySize; id++)
                {
                    var probe = new ToolCallMatcher(grammar);
                    foreach (int t in prefix) probe.TryAdvance(t);
                    bool accepts = probe.TryAdvance(id);
                    bool inMask = !restricted || (bits[id >> 6] & (1UL << id)) != 0;
                    if (accepts != inMask) throw new InvalidOperationException($"{format}/{mode} after {prefix.Count} tokens: id {id} accepted={accepts} masked-in={inMask}");
                    if (accepts) allowed.Add(id);
                }
                checkedStates++;
                if (allowed.Count == 0) break;
                int next = allowed[rng.Next(allowed.Count)];
                await Assert.That(m.TryAdvance(next)).IsTrue();
                prefix.Add(next);
            }
        }
        await Assert.That(checkedStates).IsGreaterThan(20);
    }
}
