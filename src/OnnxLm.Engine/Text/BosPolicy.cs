using System.Text.Json;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Whether a raw-text prompt (<c>/v1/completions</c>) starts with BOS, decided as Hugging Face's
/// <c>tokenizer(prompt)</c> decides it (vLLM follows it too):
/// <list type="bullet">
/// <item>the Llama and Gemma tokenizer classes rebuild their post-processor from <c>add_bos_token</c> in
/// <c>tokenizer_config.json</c> (default true), whatever <c>tokenizer.json</c> says (Llama 2, Mistral, Phi-3, Gemma,
/// DeepSeek-R1-Distill);</item>
/// <item>every other class keeps <c>tokenizer.json</c>'s <c>post_processor</c>: a <c>TemplateProcessing</c> whose single
/// sequence starts with a special token adds it (Llama 3.x); <c>ByteLevel</c> or none adds nothing (Qwen, SmolLM2).</item>
/// </list>
/// Chat prompts never get it from here: templates write <c>{{ bos_token }}</c> themselves, and the encoder adds nothing.
/// </summary>
public static class BosPolicy
{
    static readonly HashSet<string> ClassesWithAddBosToken = new(StringComparer.Ordinal)
    {
        "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast",
    };

    /// <summary>The id a raw-text prompt starts with, or -1 for none.</summary>
    public static int Read(string modelDir, TokenVocabulary vocabulary)
    {
        string configPath = Path.Combine(modelDir, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            using var config = Parse(configPath);
            var root = config.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("tokenizer_class"u8, out var cls)
                && cls.ValueKind == JsonValueKind.String && ClassesWithAddBosToken.Contains(cls.GetString()!))
            {
                bool add = !root.TryGetProperty("add_bos_token"u8, out var flag) || flag.ValueKind != JsonValueKind.False;
                if (!add) return -1;
                string? bos = TokenContent(root, "bos_token");
                return bos is not null && vocabulary.FindToken(bos) is int id ? id : -1;
            }
        }
        string tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) return -1;
        using var tokenizer = Parse(tokenizerPath);
        return tokenizer.RootElement.TryGetProperty("post_processor"u8, out var processor) ? FromPostProcessor(processor, vocabulary) : -1;
    }

    static int FromPostProcessor(JsonElement processor, TokenVocabulary vocabulary)
    {
        if (processor.ValueKind != JsonValueKind.Object || !processor.TryGetProperty("type"u8, out var type)) return -1;
        if (type.ValueEquals("Sequence"u8) && processor.TryGetProperty("processors"u8, out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var p in list.EnumerateArray())
                if (FromPostProcessor(p, vocabulary) is var id and >= 0) return id;
            return -1;
        }
        if (!type.ValueEquals("TemplateProcessing"u8) || !processor.TryGetProperty("single"u8, out var single)
            || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() == 0
            || !single[0].TryGetProperty("SpecialToken"u8, out var first) || !first.TryGetProperty("id"u8, out var name)
            || name.ValueKind != JsonValueKind.String)
            return -1;
        // special_tokens maps the name to its ids; fall back to the vocabulary when the map lacks it.
        if (processor.TryGetProperty("special_tokens"u8, out var specials) && specials.ValueKind == JsonValueKind.Object
            && specials.TryGetProperty(name.GetString()!, out var entry) && entry.TryGetProperty("ids"u8, out var ids)
            && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() == 1 && ids[0].TryGetInt32(out int fromMap))
            return fromMap;
        return vocabulary.FindToken(name.GetString()!) ?? -1;
    }

    /// <summary>A special token named in tokenizer_config.json: a string, or an AddedToken object with <c>content</c>.</summary>
    public static string? TokenContent(JsonElement config, string property)
    {
        if (!config.TryGetProperty(property, out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content"u8, out var c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        return null;
    }

    static JsonDocument Parse(string path) => ModelJsonFile.Parse(path);
}
