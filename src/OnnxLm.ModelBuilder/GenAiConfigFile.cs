using System.Text.Json;

namespace OnnxLm.Builder;

/// <summary>
/// Writes <c>genai_config.json</c> in the shape GenAI's model builder emits for a llama decoder. The I/O names are
/// the ones <see cref="DecoderGraph"/> declares, so the config and the graph cannot disagree.
/// </summary>
internal static class GenAiConfigFile
{
    public static void Write(Stream stream, ModelBuilderOptions o)
    {
        using var w = new Utf8JsonWriter(stream, TokenizerFiles.WriterOptions);
        w.WriteStartObject();
        w.WriteStartObject("model");
        w.WriteNumber("bos_token_id", o.EndOfTextTokenId);
        w.WriteNumber("context_length", o.ContextLength);
        w.WriteStartObject("decoder");
        w.WriteStartObject("session_options");
        w.WriteString("log_id", "onnxruntime-genai");
        w.WriteStartArray("provider_options");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteString("filename", ModelBuilder.ModelFileName);
        w.WriteNumber("head_size", o.HeadSize);
        w.WriteNumber("hidden_size", o.HiddenSize);
        w.WriteStartObject("inputs");
        w.WriteString("input_ids", DecoderGraph.InputIds);
        w.WriteString("attention_mask", DecoderGraph.AttentionMask);
        w.WriteString("past_key_names", DecoderGraph.PastKeyFormat);
        w.WriteString("past_value_names", DecoderGraph.PastValueFormat);
        w.WriteEndObject();
        w.WriteStartObject("outputs");
        w.WriteString("logits", DecoderGraph.Logits);
        w.WriteString("present_key_names", DecoderGraph.PresentKeyFormat);
        w.WriteString("present_value_names", DecoderGraph.PresentValueFormat);
        w.WriteEndObject();
        w.WriteNumber("num_attention_heads", o.NumHeads);
        w.WriteNumber("num_hidden_layers", o.NumLayers);
        w.WriteNumber("num_key_value_heads", o.NumKvHeads);
        w.WriteEndObject();
        w.WriteStartArray("eos_token_id");
        if (o.Tokenizer is { } source)
        {
            foreach (int id in source.EosTokenIds) w.WriteNumberValue(id);
        }
        else
        {
            w.WriteNumberValue(o.ImEndTokenId);
            w.WriteNumberValue(o.EndOfTextTokenId);
        }
        w.WriteEndArray();
        w.WriteNumber("pad_token_id", o.EndOfTextTokenId);
        w.WriteString("type", "llama");
        w.WriteNumber("vocab_size", o.VocabSize);
        w.WriteEndObject();

        w.WriteStartObject("search");
        w.WriteNumber("diversity_penalty", 0.0);
        // The model's recommended sampling is OpenAI's neutral one (temperature 1, no top-k/top-p): the server applies
        // these to requests that omit them, and a random-weight test model has nothing to recommend.
        w.WriteBoolean("do_sample", true);
        w.WriteBoolean("early_stopping", true);
        w.WriteNumber("length_penalty", 1.0);
        w.WriteNumber("max_length", o.ContextLength);
        w.WriteNumber("min_length", 0);
        w.WriteNumber("no_repeat_ngram_size", 0);
        w.WriteNumber("num_beams", 1);
        w.WriteNumber("num_return_sequences", 1);
        w.WriteBoolean("past_present_share_buffer", true);
        w.WriteNumber("repetition_penalty", 1.0);
        w.WriteNumber("temperature", 1.0);
        w.WriteNumber("top_k", 0);
        w.WriteNumber("top_p", 1.0);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
