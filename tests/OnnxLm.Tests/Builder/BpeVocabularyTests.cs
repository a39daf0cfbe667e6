using OnnxLm.Builder;

namespace OnnxLm.Tests.Builder;

public class BpeVocabularyTests
{
    [Test]
    [Arguments(397)]
    [Arguments(31997)]
    public async Task Every_merge_joins_earlier_tokens_into_a_unique_new_token(int size)
    {
        var vocabulary = BpeVocabulary.Train(size, seed: 1234);

        await Assert.That(vocabulary.Tokens.Count).IsEqualTo(size);
        await Assert.That(vocabulary.Merges.Count).IsEqualTo(size - 256);
        await Assert.That(vocabulary.Tokens.Distinct(StringComparer.Ordinal).Count()).IsEqualTo(size);
        for (int b = 0; b < 256; b++)
            await Assert.That(vocabulary.Tokens[b].Length).IsEqualTo(1);
        for (int i = 0; i < vocabulary.Merges.Count; i++)
        {
            var (left, right) = vocabulary.Merges[i];
            if (left >= 256 + i || right >= 256 + i || vocabulary.Tokens[256 + i] != vocabulary.Tokens[left] + vocabulary.Tokens[right])
                Assert.Fail($"merge {i} ({left}, {right}) does not produce token {256 + i} from earlier tokens");
        }
        // ByteLevel maps ' ' to 'Ġ', so "a b" merge lines are unambiguous.
        await Assert.That(vocabulary.Tokens.Any(t => t.Contains(' ', StringComparison.Ordinal))).IsFalse();
    }

    [Test]
    public async Task Common_English_words_become_single_tokens_first()
    {
        var vocabulary = BpeVocabulary.Train(397, seed: 1234);

        await Assert.That(vocabulary.Tokens).Contains("Ġthe");
        await Assert.That(vocabulary.Tokens).Contains("Ġand");
        await Assert.That(vocabulary.Tokens[256]).IsEqualTo("Ġt"); // the most frequent pair of the corpus
    }

    [Test]
    public async Task Training_is_deterministic_per_seed()
    {
        var a = BpeVocabulary.Train(5000, seed: 7);
        var b = BpeVocabulary.Train(5000, seed: 7);
        var c = BpeVocabulary.Train(5000, seed: 8);

        await Assert.That(b.Tokens.SequenceEqual(a.Tokens, StringComparer.Ordinal)).IsTrue();
        await Assert.That(c.Tokens.SequenceEqual(a.Tokens, StringComparer.Ordinal)).IsFalse();
    }

    [Test]
    public async Task Byte_level_spelling_is_the_tokenizers_own_alphabet()
    {
        // The builder keeps its own copy of GPT-2's byte map (it depends on no part of the engine); the files it
        // writes must still decode through the engine's map.
        for (int b = 0; b < 256; b++)
        {
            char c = BpeVocabulary.ByteLevelChar((byte)b);
            await Assert.That(OnnxLm.Engine.Text.ByteLevelAlphabet.ToChar((byte)b)).IsEqualTo(c);
        }
    }
}
