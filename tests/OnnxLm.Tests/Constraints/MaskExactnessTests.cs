using System.Text;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>
/// The mask against brute force on real vocabularies (Qwen2.5's 151k byte-level BPE, OpenAI's o200k_base, Gemma 3's 262k
/// SentencePiece with byte fallback): at states along a document, bit <c>id</c> is set exactly when the token's bytes step the matcher
/// (which accepts exactly the viable prefixes, see <see cref="GrammarMatcher"/>).
/// </summary>
public class MaskExactnessTests
{
    public static IEnumerable<(string Schema, string Document)> Cases() =>
    [
        ("""{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"type":"string","maxLength":5},"maxItems":3}},"required":["name","age"]}""",
            """{"name":"Zoë \"Z\" Łuk 😀","age":42,"tags":["a","bcdef"]}"""),
        ("""{"type":"object","properties":{"unit":{"enum":["celsius","fahrenheit"]},"value":{"type":"number"},"ok":{"type":["boolean","null"]}},"required":["unit"]}""",
            """{"unit":"fahrenheit","value":-12.5e+3,"ok":null}"""),
        ("""{"type":"object"}""", """{"a":[1,{"b":"c\n\u00e9"},true],"x":-0.5}"""),
        ("""{"type":"array","items":{"anyOf":[{"type":"string","minLength":2},{"type":"integer","minimum":-20,"maximum":3000}]},"minItems":1}""",
            """["ab",-19,2999,"xyz"]"""),
        ("""{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/node"}},"required":["v"]}},"$ref":"#/$defs/node"}""",
            """{"v":1,"next":{"v":22,"next":{"v":-3}}}"""),
        ("""{"type":"object","properties":{"t":{"type":"number","minimum":-1.5,"exclusiveMaximum":2},"id":{"type":"string","format":"uuid"},"code":{"type":"string","pattern":"^[A-Z]{3}[0-9]+$"}}}""",
            """{"t":1.999,"id":"123e4567-e89b-12d3-a456-426614174000","code":"ABC12"}"""),
        // A bound between the short-token tables and the longest token: exercises the long-plain-token list.
        ("""{"type":"array","items":{"type":"string","minLength":3,"maxLength":40}}""",
            """["                         padded text","résumé naïve café — 東京 ok"]"""),
    ];

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Mask_equals_brute_force_on_qwen25(string schema, string document) =>
        await CheckAsync(ConstraintFixtures.Qwen, schema, document);

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Mask_equals_brute_force_on_gemma3(string schema, string document) =>
        await CheckAsync(ConstraintFixtures.Gemma, schema, document);

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Mask_equals_brute_force_on_o200k(string schema, string document) =>
        await CheckAsync(ConstraintFixtures.O200k, schema, document);

    [Test]
    public async Task The_o200k_vocabulary_is_the_tiktoken_file_byte_for_byte()
    {
        var trie = ConstraintFixtures.O200k;
        // 199,998 ranks plus <|endoftext|>; the longest tokens are runs of spaces and dashes; every rank's bytes round-trip.
        await Assert.That(trie.VocabularySize).IsGreaterThanOrEqualTo(199_998);
        await Assert.That(Encoding.UTF8.GetString(trie.Vocabulary.GetBytes(0))).IsEqualTo("!");
        await Assert.That(trie.Vocabulary.IsSpecial(trie.VocabularySize - 1)).IsTrue();
    }

    /// <summary>The mask a matcher reuses inside a long unbounded string equals the one a fresh matcher computes at the
    /// same place: across escapes, between items of an array of strings (the parent frame moves), before and after a
    /// minLength, and after a reset to another grammar.</summary>
    [Test]
    public async Task Masks_reused_inside_free_text_strings_equal_freshly_computed_ones()
    {
        var trie = ConstraintFixtures.Qwen;
        (string Schema, string Document)[] cases =
        [
            ("""{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string","minLength":6}},"required":["a","b"]}""",
                """{"a":"one two \"three\" four\n five six","b":"abcdefghij klm"}"""),
            ("""{"type":"array","items":{"type":"string"},"maxItems":3}""", """["alpha beta","gamma delta","epsilon"]"""),
        ];
        var reused = new GrammarMatcher(ConstraintFixtures.Compile(cases[0].Schema), trie);
        var mask = new ulong[reused.MaskWords];
        var fresh = new ulong[reused.MaskWords];
        int compared = 0;
        foreach (var (schema, document) in cases)
        {
            var grammar = ConstraintFixtures.Compile(schema);
            reused.Reset(grammar);
            byte[] bytes = Encoding.UTF8.GetBytes(document);
            for (int i = 0; i < bytes.Length; i++)
            {
                reused.ComputeMask(mask);
                var scratch = new GrammarMatcher(grammar, trie);
                await Assert.That(scratch.TryAdvanceBytes(bytes.AsSpan(0, i))).IsTrue();
                scratch.ComputeMask(fresh);
                if (!mask.AsSpan().SequenceEqual(fresh))
                    Assert.Fail($"{schema}: after {i} bytes ('{document[..Math.Min(i, document.Length)]}') the reused mask differs");
                compared++;
                await Assert.That(reused.TryAdvanceBytes(bytes.AsSpan(i, 1))).IsTrue();
            }
        }
        await Assert.That(compared).IsGreaterThan(80);
    }

    private static async Task CheckAsync(TokenTrie trie, string schema, string document)
    {
        JsonGrammar grammar = ConstraintFixtures.Compile(schema);
        byte[] bytes = Encoding.UTF8.GetBytes(document);
        await Assert.That(ConstraintFixtures.Accepts(grammar, bytes, trie)).IsTrue();
        var matcher = new GrammarMatcher(grammar, trie);
        var probe = new GrammarMatcher(grammar, trie);
        var mask = new ulong[matcher.MaskWords];
        int states = 0;
        // Every byte offset of short documents would be slow at 262k tokens; take about a dozen spread over the document.
        int stride = Math.Max(1, bytes.Length / 12);
        for (int cut = 0; cut < bytes.Length; cut += stride)
        {
            matcher.Reset();
            await Assert.That(matcher.TryAdvanceBytes(bytes.AsSpan(0, cut))).IsTrue();
            matcher.ComputeMask(mask);
            // A second mask at the same state comes from the per-state caches (pattern strings): it must not differ.
            var again = new ulong[mask.Length];
            matcher.ComputeMask(again);
            await Assert.That(again.AsSpan().SequenceEqual(mask)).IsTrue();
            int allowed = 0;
            for (int id = 0; id < trie.VocabularySize; id++)
            {
                probe.CopyFrom(matcher);
                bool expected = probe.TryAdvance(id);
                bool actual = (mask[id >> 6] & (1UL << id)) != 0;
                if (expected != actual)
                {
                    Assert.Fail($"after {cut} bytes ('{document[..Math.Min(document.Length, cut)]}…'): token {id} " +
                        $"'{Encoding.UTF8.GetString(trie.Vocabulary.GetBytes(id))}' brute force {expected}, mask {actual}");
                }
                allowed += expected ? 1 : 0;
            }
            await Assert.That(allowed).IsGreaterThan(0);
            states++;
        }
        await Assert.That(states).IsGreaterThanOrEqualTo(10);
    }
}
