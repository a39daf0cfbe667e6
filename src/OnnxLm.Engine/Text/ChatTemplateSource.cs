using System.Text.Json;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Where a model's chat template comes from, resolved once at load: an explicit <c>--chat-template FILE</c> wins (as in
/// vLLM: the operator asked for it), else <c>chat_template</c> in <c>tokenizer_config.json</c> (a string, or the list of
/// named templates newer exports write, of which "default" is the chat one), else <c>chat_template.jinja</c> beside it
/// (the layout transformers ≥ 4.43 writes). A folder with none of them serves text completions only.
/// </summary>
public sealed record ChatTemplateSource(string? Template, string Origin)
{
    public const string JinjaFileName = "chat_template.jinja";

    /// <summary>Resolves the template of <paramref name="modelDir"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="overrideFile"/> cannot be read or is empty.</exception>
    /// <exception cref="ModelFormatException">tokenizer_config.json is not valid JSON or its chat_template has no usable form.</exception>
    public static ChatTemplateSource Resolve(string modelDir, string? overrideFile)
    {
        if (overrideFile is not null)
        {
            string text;
            try
            {
                text = File.ReadAllText(overrideFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"--chat-template {overrideFile}: {e.Message}", e);
            }
            if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"--chat-template {overrideFile}: the file is empty");
            return new ChatTemplateSource(text, "--chat-template " + overrideFile);
        }
        string configPath = Path.Combine(modelDir, "tokenizer_config.json");
        if (File.Exists(configPath) && FromTokenizerConfig(configPath) is { } fromConfig)
            return new ChatTemplateSource(fromConfig, "tokenizer_config.json");
        string jinjaPath = Path.Combine(modelDir, JinjaFileName);
        if (File.Exists(jinjaPath))
        {
            string text = File.ReadAllText(jinjaPath);
            if (!string.IsNullOrWhiteSpace(text)) return new ChatTemplateSource(text, JinjaFileName);
        }
        return new ChatTemplateSource(null, "none");
    }

    static string? FromTokenizerConfig(string path)
    {
        JsonDocument doc = ModelJsonFile.Parse(path);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("chat_template"u8, out var t))
                return null;
            switch (t.ValueKind)
            {
                case JsonValueKind.Null:
                    return null;
                case JsonValueKind.String:
                    return string.IsNullOrWhiteSpace(t.GetString()) ? null : t.GetString();
                case JsonValueKind.Array:
                    // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]: transformers uses "default" for chat.
                    foreach (var entry in t.EnumerateArray())
                        if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name"u8, out var name) && name.ValueEquals("default"u8)
                            && entry.TryGetProperty("template"u8, out var body) && body.ValueKind == JsonValueKind.String)
                            return body.GetString();
                    throw new ModelFormatException($"{path}: chat_template is a list without a \"default\" entry");
                default:
                    throw new ModelFormatException($"{path}: chat_template must be a string or a list of named templates");
            }
        }
    }
}
