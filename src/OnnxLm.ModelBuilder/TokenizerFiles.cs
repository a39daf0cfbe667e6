using System.Text.Encodings.Web;
using System.Text.Json;

namespace OnnxLm.Builder;

/// <summary>
/// Writes the Hugging Face tokenizer pair: <c>tokenizer.json</c> (byte-level BPE, ByteLevel pre-tokenizer and
/// decoder, the three specials as added tokens) and <c>tokenizer_config.json</c> (Qwen2Tokenizer, special tokens,
/// ChatML template). Output depends only on the vocabulary and options, property by property in fixed order.
/// </summary>
internal static class TokenizerFiles
{
    /// <summary>Qwen2-style ChatML without a default system prompt.</summary>
    public const string ChatTemplate =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    internal static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        // Keeps byte-level symbols and '<', '>' readable; still escapes quotes, backslashes and control characters.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteTokenizerJson(Stream stream, BpeVocabulary vocabulary, ModelBuilderOptions options)
    {
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var (id, content) in Specials(options))
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        w.WriteNull("post_processor");
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteString("continuing_subword_prefix", "");
        w.WriteString("end_of_word_suffix", "");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteStartObject("vocab");
        for (int id = 0; id < vocabulary.Tokens.Count; id++)
            w.WriteNumber(vocabulary.Tokens[id], id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (left, right) in vocabulary.Merges)
            w.WriteStringValue(vocabulary.Tokens[left] + " " + vocabulary.Tokens[right]); // symbols never contain ' '
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static void WriteTokenizerConfig(Stream stream, ModelBuilderOptions options)
    {
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_eos_token", false);
        w.WriteBoolean("add_prefix_space", false);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var (id, content) in Specials(options))
        {
            w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", content);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("additional_special_tokens");
        w.WriteStringValue(ModelBuilder.ImStart);
        w.WriteStringValue(ModelBuilder.ImEnd);
        w.WriteEndArray();
        w.WriteString("bos_token", ModelBuilder.EndOfText);
        w.WriteString("chat_template", ChatTemplate);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteString("eos_token", ModelBuilder.ImEnd);
        w.WriteString("errors", "replace");
        w.WriteNumber("model_max_length", options.ContextLength);
        w.WriteString("pad_token", ModelBuilder.EndOfText);
        w.WriteBoolean("split_special_tokens", false);
        w.WriteString("tokenizer_class", "Qwen2Tokenizer");
        w.WriteNull("unk_token");
        w.WriteEndObject();
    }

    private static (int Id, string Content)[] Specials(ModelBuilderOptions o) =>
    [
        (o.EndOfTextTokenId, ModelBuilder.EndOfText),
        (o.ImStartTokenId, ModelBuilder.ImStart),
        (o.ImEndTokenId, ModelBuilder.ImEnd),
    ];
}
