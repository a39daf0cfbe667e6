using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Text;

/// <summary><see cref="ReasoningTags"/> on real vocabularies: which ids are the tags, and which prompt endings leave a
/// thought open (R1's generation prompt does, Qwen3's and a closed thought do not).</summary>
public class ReasoningTagsTests
{
    static async Task<TokenVocabulary> VocabularyAsync(RealFamily family) => TokenVocabulary.Load(await family.TokenizerJsonAsync());

    /// <summary>The id whose text is exactly <paramref name="text"/> (a whole-token lookup, as a test oracle).</summary>
    static int Id(TokenVocabulary vocabulary, string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        for (int id = 0; id < vocabulary.Count; id++)
            if (vocabulary.GetBytes(id).SequenceEqual(bytes)) return id;
        throw new InvalidOperationException($"no token '{text}'");
    }

    [Test]
    public async Task The_tags_are_the_added_tokens_of_r1_and_qwen3_and_absent_elsewhere()
    {
        await Assert.That(ReasoningTags.Find(await VocabularyAsync(RealFamilies.DeepSeekR1Distill))).IsEqualTo(new ReasoningTags(151_648, 151_649));
        await Assert.That(ReasoningTags.Find(await VocabularyAsync(RealFamilies.Qwen3))).IsEqualTo(new ReasoningTags(151_667, 151_668));
        foreach (var family in new[] { RealFamilies.Qwen25, RealFamilies.Llama32, RealFamilies.Phi3, RealFamilies.Gemma3 })
            await Assert.That(ReasoningTags.Find(await VocabularyAsync(family))).IsNull();
    }

    [Test]
    public async Task Tags_the_logits_cannot_produce_are_no_tags()
    {
        var vocabulary = await VocabularyAsync(RealFamilies.DeepSeekR1Distill);
        await Assert.That(ReasoningTags.Find(vocabulary, RealFamilies.DeepSeekR1Distill.LogitsSize)).IsEqualTo(new ReasoningTags(151_648, 151_649));
        await Assert.That(ReasoningTags.Find(vocabulary, 151_650)).IsEqualTo(new ReasoningTags(151_648, 151_649));
        // A tokenizer larger than the model: </think> could never be sampled, so a thought could never close.
        await Assert.That(ReasoningTags.Find(vocabulary, 151_649)).IsNull();
        await Assert.That(ReasoningTags.Find(vocabulary, 151_648)).IsNull();
    }

    [Test]
    public async Task A_prompt_ending_with_the_opening_tag_and_whitespace_tokens_opens_the_thought()
    {
        var vocabulary = await VocabularyAsync(RealFamilies.DeepSeekR1Distill);
        var tags = ReasoningTags.Find(vocabulary)!.Value;
        int assistant = vocabulary.FindToken("<｜Assistant｜>")!.Value;
        int newline = Id(vocabulary, "\n"), blank = Id(vocabulary, "\n\n"), word = Id(vocabulary, "Hello");

        await Assert.That(tags.OpenedBy([assistant, tags.Open], vocabulary)).IsTrue();
        await Assert.That(tags.OpenedBy([assistant, tags.Open, newline], vocabulary)).IsTrue();
        await Assert.That(tags.OpenedBy([tags.Open, newline, blank], vocabulary)).IsTrue();

        await Assert.That(tags.OpenedBy([assistant], vocabulary)).IsFalse();
        await Assert.That(tags.OpenedBy([tags.Open, word], vocabulary)).IsFalse();
        await Assert.That(tags.OpenedBy([tags.Open, newline, word, newline], vocabulary)).IsFalse();
        // Qwen3 with enable_thinking=false: the template writes an empty, closed thought.
        await Assert.That(tags.OpenedBy([tags.Open, blank, tags.Close, blank], vocabulary)).IsFalse();
        await Assert.That(tags.OpenedBy([newline], vocabulary)).IsFalse();
        await Assert.That(tags.OpenedBy([], vocabulary)).IsFalse();
    }
}
