using System.Globalization;
using System.Text.Json;

namespace OnnxLm.Engine.Model;

/// <summary>
/// The sampling settings a model's publisher recommends, used for the fields a request leaves out: from
/// <c>generation_config.json</c> (transformers' file) when the folder has one, else from genai_config's <c>search</c>
/// section. <c>do_sample</c> false (transformers' default when the key is absent) means greedy, as it does in
/// transformers and in GenAI's <c>Generator</c>. Only keys the file sets are taken: transformers' implicit
/// <c>top_k</c> 50 is not, as vLLM does not take it either. <see cref="Neutral"/> is OpenAI's behaviour.
/// </summary>
public sealed record SamplingDefaults
{
    /// <summary>OpenAI's defaults: temperature 1, no top-k/top-p, no penalty.</summary>
    public static SamplingDefaults Neutral { get; } = new() { Source = "OpenAI's defaults (--sampling-defaults neutral)" };

    static SamplingDefaults None => new() { Source = "the model folder recommends none" };

    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? RepetitionPenalty { get; init; }

    /// <summary>Where the values came from, for the start-up log.</summary>
    public required string Source { get; init; }

    public static SamplingDefaults Load(string modelDir)
    {
        string generation = Path.Combine(modelDir, "generation_config.json");
        if (File.Exists(generation))
        {
            using var doc = Parse(generation);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? From(doc.RootElement, "generation_config.json") : None;
        }
        string genai = Path.Combine(modelDir, "genai_config.json");
        if (File.Exists(genai))
        {
            using var doc = Parse(genai);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("search"u8, out var search)
                && search.ValueKind == JsonValueKind.Object)
                return From(search, "genai_config.json search");
        }
        return None;
    }

    static SamplingDefaults From(JsonElement e, string source)
    {
        bool sample = e.TryGetProperty("do_sample"u8, out var d) && d.ValueKind == JsonValueKind.True;
        float? repetition = Float(e, "repetition_penalty", source);
        if (!sample)
            return new SamplingDefaults { Temperature = 0f, RepetitionPenalty = repetition, Source = source + " (do_sample false: greedy)" };
        // Out-of-range values (top_p 0, temperature 5) would make every request that omits the field a 400 for a value
        // the client never sent: they are clamped into OpenAI's ranges instead.
        float? topP = Float(e, "top_p", source);
        return new SamplingDefaults
        {
            Temperature = Float(e, "temperature", source) is float t ? Math.Min(t, 2f) : null,
            TopP = topP is > 0f and < 1f ? topP : null,
            TopK = e.TryGetProperty("top_k"u8, out var k) && k.ValueKind == JsonValueKind.Number
                ? (k.TryGetInt32(out int topK) && topK >= 0 ? topK : throw new ModelFormatException($"{source}: top_k must be a non-negative integer"))
                : null,
            RepetitionPenalty = repetition,
            Source = source,
        };
    }

    static float? Float(JsonElement e, string name, string source)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d) || d < 0)
            throw new ModelFormatException($"{source}: {name} must be a non-negative number");
        return (float)d;
    }

    static JsonDocument Parse(string path) => ModelJsonFile.Parse(path);

    public override string ToString()
    {
        var parts = new List<string>();
        if (Temperature is float t) parts.Add(t == 0f ? "greedy" : "temperature " + t.ToString(CultureInfo.InvariantCulture));
        if (TopP is float p) parts.Add("top_p " + p.ToString(CultureInfo.InvariantCulture));
        if (TopK is int k) parts.Add("top_k " + k.ToString(CultureInfo.InvariantCulture));
        if (RepetitionPenalty is float r) parts.Add("repetition_penalty " + r.ToString(CultureInfo.InvariantCulture));
        return (parts.Count == 0 ? "temperature 1, no top-k/top-p" : string.Join(", ", parts)) + " (" + Source + ")";
    }
}
