using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>
/// The corpus of realistic schemas: each compiles, accepts its example, and random mask-guided generation (over a
/// byte vocabulary, several seeds, biased towards closing so documents end) always reaches an accepting state with a
/// document that parses and that <see cref="ReferenceValidator"/>, a separate implementation, calls valid.
/// </summary>
public class SchemaCorpusTests
{
    public static IEnumerable<string> Names() => SchemaCorpus.Schemas.Select(s => s.Name);

    [Test]
    public async Task Corpus_has_at_least_30_schemas() => await Assert.That(SchemaCorpus.Schemas.Length).IsGreaterThanOrEqualTo(30);

    [Test]
    [MethodDataSource(nameof(Names))]
    public async Task Generated_documents_are_complete_and_valid(string name)
    {
        (_, string schema, string example) = SchemaCorpus.Schemas.Single(s => s.Name == name);
        JsonGrammar grammar = ConstraintFixtures.Compile(schema);
        using JsonDocument schemaDocument = JsonDocument.Parse(schema);
        var validator = new ReferenceValidator(schemaDocument.RootElement);
        await Assert.That(ConstraintFixtures.Accepts(grammar, example)).IsTrue().Because("the example");
        using (JsonDocument exampleDocument = JsonDocument.Parse(example))
        {
            await Assert.That(validator.IsValid(exampleDocument.RootElement)).IsTrue().Because("the reference validator on the example");
        }

        TokenTrie trie = ConstraintFixtures.Bytes;
        var matcher = new GrammarMatcher(grammar, trie);
        var mask = new ulong[matcher.MaskWords];
        var allowed = new List<int>();
        for (int seed = 0; seed < 8; seed++)
        {
            var random = new Random(seed);
            matcher.Reset();
            var output = new List<byte>();
            for (int step = 0; ; step++)
            {
                await Assert.That(step).IsLessThan(20_000);
                if (matcher.IsAccepting && (!matcher.CanContinue || random.Next(3) == 0))
                {
                    break;
                }
                matcher.ComputeMask(mask);
                allowed.Clear();
                for (int id = 0; id < trie.VocabularySize; id++)
                {
                    if ((mask[id >> 6] & (1UL << id)) != 0) allowed.Add(id);
                }
                await Assert.That(allowed.Count).IsGreaterThan(0).Because($"a live state after '{Encoding.UTF8.GetString([.. output])}'");
                int pick = allowed[random.Next(allowed.Count)];
                if (random.Next(10) < 4)
                {
                    // Prefer ending the current value so documents stay short.
                    foreach (byte closer in "\"}]0,"u8)
                    {
                        if (allowed.Contains(closer))
                        {
                            pick = closer;
                            break;
                        }
                    }
                }
                matcher.Advance(pick);
                output.AddRange(trie.Vocabulary.GetBytes(pick).ToArray());
            }
            string text = Encoding.UTF8.GetString([.. output]);
            using JsonDocument generated = JsonDocument.Parse(output.ToArray());
            await Assert.That(validator.IsValid(generated.RootElement)).IsTrue().Because($"seed {seed}: {text}");
        }
    }
}
