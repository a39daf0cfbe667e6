using System.Text;
using System.Text.Json;
using OnnxLm.Engine;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Text;

public class TokenVocabularyTests
{
    // A fresh folder per use: tests run in parallel and would otherwise race on the same file.
    private static string Directory => TokenizerFiles.NewTempDirectory();

    [Test]
    public async Task Byte_level_tokens_decode_through_the_gpt2_alphabet()
    {
        var vocabulary = TokenVocabulary.Load(TokenizerFiles.WriteByteLevel(Directory));

        await Assert.That(vocabulary.Count).IsEqualTo(TokenizerFiles.Tool + 1);
        await Assert.That(vocabulary.StripsLeadingSpace).IsFalse();
        for (int id = 0; id < TokenizerFiles.ByteLevelTokens.Length; id++)
        {
            await Assert.That(vocabulary.GetBytes(id).ToArray()).IsEquivalentTo(TokenizerFiles.ByteLevelTokens[id]);
        }
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.SpaceHello))).IsEqualTo(" hello");
    }

    [Test]
    public async Task Added_tokens_decode_to_their_text_and_carry_the_special_flag()
    {
        var vocabulary = TokenVocabulary.Load(TokenizerFiles.WriteByteLevel(Directory));

        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.ImEnd))).IsEqualTo("<|im_end|>");
        await Assert.That(vocabulary.IsSpecial(TokenizerFiles.ImEnd)).IsTrue();
        await Assert.That(vocabulary.IsSpecial(TokenizerFiles.Tool)).IsFalse();
        await Assert.That(vocabulary.IsSpecial(65)).IsFalse();
        await Assert.That(vocabulary.IsSpecial(-1)).IsFalse();
        await Assert.That(vocabulary.FindToken("<|im_end|>")).IsEqualTo(TokenizerFiles.ImEnd);
        await Assert.That(vocabulary.FindToken("<tool>")).IsEqualTo(TokenizerFiles.Tool);
        await Assert.That(vocabulary.FindToken("<|missing|>")).IsNull();
    }

    [Test]
    public async Task Added_tokens_go_through_the_SentencePiece_decoder_like_vocabulary_tokens()
    {
        // Gemma 3's added, non-special ids 138..167 are runs of ▁: HF decodes them as spaces.
        string path = TokenizerFiles.Write(Directory, "added-sp.json", [("<0x41>", 0), ("▁a", 1)],
            [(2, "▁▁", false), (3, "<0x42>", false), (4, "<start_of_turn>", true), (5, "\n\n", false)], TokenizerFiles.SentencePieceDecoder);
        var vocabulary = TokenVocabulary.Load(path);

        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(2))).IsEqualTo("  ");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(3))).IsEqualTo("B");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(4))).IsEqualTo("<start_of_turn>");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(5))).IsEqualTo("\n\n");
        await Assert.That(vocabulary.FindToken("▁▁")).IsEqualTo(2);
    }

    [Test]
    public async Task Added_tokens_go_through_the_byte_level_alphabet_unless_they_leave_it()
    {
        // As HF tokenizers' ByteLevel decoder: a token spelled in the GPT-2 alphabet is mapped back to bytes ("Ġ" is a
        // space), one with any other character is its own UTF-8 (DeepSeek's "<｜tool▁calls▁begin｜>").
        string path = TokenizerFiles.Write(Directory, "added-bl.json", [("a", 0)],
            [(1, "<tool_call>", false), (2, "Ġx", false), (3, "<｜tool▁calls▁begin｜>", false), (4, "Ġ<|im_end|>", true)],
            w => w.WriteString("type", "ByteLevel"));
        var vocabulary = TokenVocabulary.Load(path);

        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(1))).IsEqualTo("<tool_call>");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(2))).IsEqualTo(" x");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(3))).IsEqualTo("<｜tool▁calls▁begin｜>");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(4))).IsEqualTo(" <|im_end|>");
        await Assert.That(vocabulary.FindToken("Ġx")).IsEqualTo(2);
    }

    [Test]
    public async Task A_vocabulary_entry_spelled_like_a_special_token_is_special()
    {
        // HF skips special tokens by their text, whichever id carries it; an added token that replaces an entry brings its
        // own text (id 1 below is "<y>", not "<eos>").
        string path = TokenizerFiles.Write(Directory, "special-text.json", [("a", 0), ("<eos>", 1), ("<bos>", 4)],
            [(1, "<y>", false), (2, "<eos>", true), (3, "<bos>", true)],
            w => w.WriteString("type", "ByteLevel"));
        var vocabulary = TokenVocabulary.Load(path);

        await Assert.That(vocabulary.IsSpecial(4)).IsTrue();
        await Assert.That(vocabulary.IsSpecial(2)).IsTrue();
        await Assert.That(vocabulary.IsSpecial(3)).IsTrue();
        await Assert.That(vocabulary.IsSpecial(1)).IsFalse();
        await Assert.That(vocabulary.IsSpecial(0)).IsFalse();
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(1))).IsEqualTo("<y>");
    }

    [Test]
    public async Task Ids_between_the_vocabulary_and_added_tokens_decode_to_nothing()
    {
        var vocabulary = TokenVocabulary.Load(TokenizerFiles.WriteByteLevel(Directory));

        await Assert.That(vocabulary.GetBytes(TokenizerFiles.Stop + 1).Length).IsEqualTo(0);
        await Assert.That(vocabulary.GetBytes(TokenizerFiles.ImEnd - 1).Length).IsEqualTo(0);
        await Assert.That(() => vocabulary.GetBytes(vocabulary.Count)).Throws<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task SentencePiece_tokens_replace_the_word_marker_and_fall_back_to_bytes()
    {
        var vocabulary = TokenVocabulary.Load(TokenizerFiles.WriteSentencePiece(Directory));

        await Assert.That(vocabulary.StripsLeadingSpace).IsTrue();
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.SpHello))).IsEqualTo(" Hello");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.SpSpace))).IsEqualTo(" ");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.SpEuro))).IsEqualTo("€");
        await Assert.That(vocabulary.GetBytes(TokenizerFiles.SpByte0 + 0xE2).ToArray()).IsEquivalentTo(new byte[] { 0xE2 });
        await Assert.That(vocabulary.GetBytes(TokenizerFiles.SpByte0).ToArray()).IsEquivalentTo(new byte[] { 0x00 });
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(TokenizerFiles.SpBos))).IsEqualTo("<s>");
        await Assert.That(vocabulary.IsSpecial(TokenizerFiles.SpBos)).IsTrue();
        await Assert.That(vocabulary.FindToken("<|assistant|>")).IsEqualTo(TokenizerFiles.SpAssistant);
    }

    [Test]
    public async Task Byte_tokens_stay_literal_text_without_a_ByteFallback_step()
    {
        string path = TokenizerFiles.Write(Directory, "no-fallback.json", [("<0xE2>", 0), ("▁a", 1)], [], w =>
        {
            w.WriteString("type", "Sequence");
            w.WriteStartArray("decoders");
            w.WriteRawValue("""{"type":"Replace","pattern":{"String":"▁"},"content":" "}""");
            w.WriteRawValue("""{"type":"Fuse"}""");
            w.WriteEndArray();
        });
        var vocabulary = TokenVocabulary.Load(path);

        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(0))).IsEqualTo("<0xE2>");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(1))).IsEqualTo(" a");
        await Assert.That(vocabulary.StripsLeadingSpace).IsFalse();
    }

    [Test]
    [Arguments("""{"type":"BPEDecoder","suffix":"</w>"}""", "BPEDecoder")]
    [Arguments("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes","split":true}""", "prepend_scheme 'sometimes'")]
    [Arguments("""{"type":"Metaspace","replacement":"▁","add_prefix_space":false,"prepend_scheme":"first"}""", "contradict")]
    [Arguments("""{"type":"Metaspace","replacement":"ab","prepend_scheme":"first"}""", "one character")]
    [Arguments("""{"type":"WordPiece","prefix":"##","cleanup":true}""", "WordPiece")]
    [Arguments("""{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"Regex":"▁"},"content":" "}]}""", "Regex")]
    [Arguments("""{"type":"Sequence","decoders":[{"type":"Strip","content":" ","start":1,"stop":0},{"type":"Fuse"}]}""", "Strip")]
    [Arguments("""{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"CTC"}]}""", "CTC")]
    public async Task Unsupported_decoder_is_refused_naming_it_and_the_file(string decoderJson, string named)
    {
        string path = TokenizerFiles.Write(Directory, $"unsupported-{named}.json", [("a", 0)], [],
            w => { using var d = JsonDocument.Parse(decoderJson); foreach (var p in d.RootElement.EnumerateObject()) p.WriteTo(w); });

        var error = await Assert.That(() => TokenVocabulary.Load(path)).Throws<ModelFormatException>();
        await Assert.That(error!.Message).Contains(named);
        await Assert.That(error.Message).Contains(path);
    }

    [Test]
    public async Task Unigram_vocab_pairs_take_their_position_as_id()
    {
        string path = Path.Combine(Directory, "unigram.json");
        File.WriteAllText(path, """
            {"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"}]},
             "model":{"type":"Unigram","vocab":[["<unk>",0.0],["▁hi",-1.5],["<0x41>",-9.0]]}}
            """);
        var vocabulary = TokenVocabulary.Load(path);

        await Assert.That(vocabulary.Count).IsEqualTo(3);
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(1))).IsEqualTo(" hi");
        await Assert.That(Encoding.UTF8.GetString(vocabulary.GetBytes(2))).IsEqualTo("A");
    }

    [Test]
    public async Task Missing_decoder_is_refused()
    {
        string path = TokenizerFiles.Write(Directory, "no-decoder.json", [("a", 0)], [], decoder: null);

        var error = await Assert.That(() => TokenVocabulary.Load(path)).Throws<ModelFormatException>();
        await Assert.That(error!.Message).Contains("decoder");
    }

    [Test]
    public async Task Missing_model_vocab_is_refused()
    {
        string path = Path.Combine(Directory, "no-vocab.json");
        File.WriteAllText(path, """{"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","merges":[]}}""");

        var error = await Assert.That(() => TokenVocabulary.Load(path)).Throws<ModelFormatException>();
        await Assert.That(error!.Message).Contains("model.vocab");
        await Assert.That(error.Message).Contains(path);
    }

    [Test]
    public async Task Duplicate_ids_are_refused()
    {
        string inVocab = TokenizerFiles.Write(Directory, "dup-vocab.json", [("a", 0), ("b", 0)], [],
            w => w.WriteString("type", "ByteLevel"));
        string inAdded = TokenizerFiles.Write(Directory, "dup-added.json", [("a", 0)], [(1, "<x>", true), (1, "<y>", true)],
            w => w.WriteString("type", "ByteLevel"));

        var first = await Assert.That(() => TokenVocabulary.Load(inVocab)).Throws<ModelFormatException>();
        var second = await Assert.That(() => TokenVocabulary.Load(inAdded)).Throws<ModelFormatException>();
        await Assert.That(first!.Message).Contains("duplicate id 0");
        await Assert.That(second!.Message).Contains("duplicate id 1");
    }

    [Test]
    public async Task Negative_or_huge_ids_are_refused()
    {
        string negative = TokenizerFiles.Write(Directory, "negative.json", [("a", -1)], [], w => w.WriteString("type", "ByteLevel"));
        string huge = TokenizerFiles.Write(Directory, "huge.json", [("a", int.MaxValue)], [], w => w.WriteString("type", "ByteLevel"));

        var first = await Assert.That(() => TokenVocabulary.Load(negative)).Throws<ModelFormatException>();
        var second = await Assert.That(() => TokenVocabulary.Load(huge)).Throws<ModelFormatException>();
        await Assert.That(first!.Message).Contains("out of range");
        await Assert.That(second!.Message).Contains("out of range");
    }
}
