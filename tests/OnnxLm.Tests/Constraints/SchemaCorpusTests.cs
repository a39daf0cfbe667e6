using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>
/// The corpus of realistic schemas (<see cref="SchemaCorpus"/>): each accepted one compiles, accepts its example, and random mask-guided generation (over a
/// byte vocabulary, several seeds, biased towards closing so documents end) always reaches an accepting state with a
/// document that parses and that <see cref="ReferenceValidator"/>, a separate implementation, calls valid. Each entry
/// marked refused is refused for exactly that keyword (fail closed: a 400, never a silent skip).
/// </summary>
public class SchemaCorpusTests
{
    public static IEnumerable<string> Names() => SchemaCorpus.Accepted.Select(s => s.Name);

    [Test]
    public async Task Corpus_has_at_least_100_accepted_schemas_and_some_refused_ones()
    {
        await Assert.That(SchemaCorpus.Accepted.Count()).IsGreaterThanOrEqualTo(100);
        await Assert.That(SchemaCorpus.Cases.Select(c => c.Name).Distinct().Count()).IsEqualTo(SchemaCorpus.Cases.Length);
        await Assert.That(SchemaCorpus.Cases.Count(c => c.Refused is not null)).IsGreaterThanOrEqualTo(5);
    }

    [Test]
    public async Task Refused_entries_are_refused_for_their_keyword()
    {
        foreach (SchemaCase c in SchemaCorpus.Cases.Where(c => c.Refused is not null))
        {
            SchemaNotSupportedException? refusal = null;
            try
            {
                ConstraintFixtures.Compile(c.Schema);
            }
            catch (SchemaNotSupportedException e)
            {
                refusal = e;
            }
            await Assert.That(refusal).IsNotNull().Because(c.Name);
            await Assert.That(refusal!.Keyword).IsEqualTo(c.Refused).Because(c.Name);
        }
    }

    [Test]
    [MethodDataSource(nameof(Names))]
    public async Task Generated_documents_are_complete_and_valid(string name)
    {
        SchemaCase corpusCase = SchemaCorpus.Get(name);
        string schema = corpusCase.Schema, example = corpusCase.Example!;
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
