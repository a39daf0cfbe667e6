using System.Text.Json;

namespace OnnxLm.Engine;

/// <summary>
/// Reads one of a model folder's JSON files (genai_config.json, generation_config.json, tokenizer_config.json,
/// tokenizer.json) leniently, as the tools that write them do (trailing commas, comments), and turns bad JSON into a
/// <see cref="ModelFormatException"/> naming the file.
/// </summary>
internal static class ModelJsonFile
{
    static readonly JsonDocumentOptions Options = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
        MaxDepth = 256,
    };

    public static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), Options);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path} is not valid JSON: {e.Message}");
        }
    }
}
