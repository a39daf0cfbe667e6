using System.Text;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Text;

/// <summary>
/// The <c>Metaspace</c> decoder as HF tokenizers (Rust, <c>Metaspace::decode_chain</c>) defines it: every replacement
/// character becomes a space, except in the first token of the sequence, where each one is dropped, unless the prepend
/// scheme is <c>never</c> (older files: <c>add_prefix_space: false</c>). Expected values are that function's, including
/// its own test case ("▁Hey", "▁friend!" → "Hey friend!"). RealTokenizerTests compares a real vocabulary with it.
/// </summary>
public class MetaspaceDecoderTests
{
    private const int Hey = 0, Friend = 1, Blanks = 2, Inner = 3, Bos = 4, ByteA = 5, Spaces = 6, Underscored = 9; // 7, 8: not defined

    private static TokenVocabulary Load(string decoderJson)
    {
        string directory = TokenizerFiles.NewTempDirectory();
        string path = TokenizerFiles.Write(directory, "metaspace.json",
            [("▁Hey", Hey), ("▁friend!", Friend), ("▁▁", Blanks), ("a▁b", Inner), ("<0x41>", ByteA), ("  ", Spaces), ("_x", Underscored)],
            [(Bos, "<s>", true)],
            w =>
            {
                using var fields = System.Text.Json.JsonDocument.Parse(decoderJson);
                foreach (var field in fields.RootElement.EnumerateObject()) field.WriteTo(w);
            });
        return TokenVocabulary.Load(path);
    }

    private static string Decode(TokenVocabulary vocabulary, int[] ids, bool skipSpecial = true)
    {
        var detokenizer = new IncrementalDetokenizer(vocabulary);
        var text = new List<byte>();
        foreach (int id in ids)
        {
            detokenizer.Append(id, skipSpecial);
            text.AddRange(detokenizer.TakeCompleted());
        }
        text.AddRange(detokenizer.Flush());
        return Encoding.UTF8.GetString([.. text]);
    }

    [Test]
    [Arguments("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}""")]
    [Arguments("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}""")]
    [Arguments("""{"type":"Metaspace","replacement":"▁","add_prefix_space":true}""")]
    [Arguments("""{"type":"Metaspace","replacement":"▁"}""")]
    public async Task First_token_drops_its_replacement_characters_and_later_ones_become_spaces(string decoder)
    {
        var vocabulary = Load(decoder);

        await Assert.That(Decode(vocabulary, [Hey, Friend])).IsEqualTo("Hey friend!");
        await Assert.That(Decode(vocabulary, [Blanks, Hey])).IsEqualTo(" Hey");     // "▁▁" first: both dropped
        await Assert.That(Decode(vocabulary, [Inner, Hey])).IsEqualTo("ab Hey");    // not only a leading one
        await Assert.That(Decode(vocabulary, [Spaces, Hey])).IsEqualTo("   Hey");    // literal spaces are text
        await Assert.That(Decode(vocabulary, [Hey, Blanks, Inner])).IsEqualTo("Hey  a b");
        // A skipped special token is not the first token; kept, it is.
        await Assert.That(Decode(vocabulary, [Bos, Hey, Friend])).IsEqualTo("Hey friend!");
        await Assert.That(Decode(vocabulary, [Bos, Hey], skipSpecial: false)).IsEqualTo("<s> Hey");
        // Ids the file does not define are dropped before the decoder, so they do not take the first place either.
        await Assert.That(Decode(vocabulary, [7, 8, Hey])).IsEqualTo("Hey");
        // Metaspace has no byte fallback.
        await Assert.That(Decode(vocabulary, [ByteA, Hey])).IsEqualTo("<0x41> Hey");
    }

    [Test]
    [Arguments("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false}""")]
    [Arguments("""{"type":"Metaspace","replacement":"▁","add_prefix_space":false}""")]
    public async Task Prepend_scheme_never_keeps_the_first_token_s_spaces(string decoder)
    {
        var vocabulary = Load(decoder);

        await Assert.That(Decode(vocabulary, [Hey, Friend])).IsEqualTo(" Hey friend!");
        await Assert.That(Decode(vocabulary, [Blanks, Inner])).IsEqualTo("  a b");
    }

    [Test]
    public async Task Each_new_sequence_applies_the_first_token_rule_again()
    {
        var vocabulary = Load("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}""");
        var detokenizer = new IncrementalDetokenizer(vocabulary);

        detokenizer.Append(Hey, skipSpecial: true);
        detokenizer.Append(Friend, skipSpecial: true);
        string first = Encoding.UTF8.GetString(detokenizer.TakeCompleted());
        detokenizer.Reset();
        detokenizer.Append(Friend, skipSpecial: true);
        string second = Encoding.UTF8.GetString(detokenizer.TakeCompleted());

        await Assert.That(first).IsEqualTo("Hey friend!");
        await Assert.That(second).IsEqualTo("friend!");
    }

    [Test]
    public async Task A_custom_replacement_character_is_honoured()
    {
        var vocabulary = Load("""{"type":"Metaspace","replacement":"_","prepend_scheme":"always"}""");

        await Assert.That(Decode(vocabulary, [Underscored, Underscored, Hey])).IsEqualTo("x x▁Hey");
    }
}
