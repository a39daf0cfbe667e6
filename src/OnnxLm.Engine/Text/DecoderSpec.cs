using System.Text;
using System.Text.Json;

namespace OnnxLm.Engine.Text;

/// <summary>
/// The supported subset of HF tokenizer decoders, reduced to what changes a token's bytes: <c>ByteLevel</c>; the
/// SentencePiece-style <c>Sequence</c> of <c>Replace</c> (literal), <c>ByteFallback</c>, <c>Fuse</c> and <c>Strip(' ', 1, 0)</c>;
/// or <c>Metaspace</c>. Anything else is refused at load, naming the step and the file.
/// </summary>
internal sealed class DecoderSpec
{
    public bool ByteLevel { get; private set; }
    public bool ByteFallback { get; private set; }
    public bool StripLeadingSpace { get; private set; }
    public List<(string Pattern, string Content)> Replacements { get; } = [];

    /// <summary>
    /// Metaspace with a prepend scheme other than <c>never</c>: the first token of a decoded sequence loses every
    /// replacement character instead of turning it into a space (HF tokenizers' <c>Metaspace::decode_chain</c>).
    /// </summary>
    public string? FirstTokenDrops { get; private set; }

    public static DecoderSpec Read(JsonElement root, string sourceName)
    {
        if (!root.TryGetProperty("decoder"u8, out JsonElement decoder) || decoder.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(
                $"{sourceName}: no 'decoder' section; only ByteLevel, Metaspace and SentencePiece-style (Replace/ByteFallback/Fuse/Strip) decoders are supported.");
        }
        var spec = new DecoderSpec();
        string type = TypeOf(decoder, sourceName);
        if (type == "ByteLevel")
        {
            spec.ByteLevel = true;
            return spec;
        }
        if (type == "Metaspace")
        {
            spec.ReadMetaspace(decoder, sourceName);
            return spec;
        }
        if (type != "Sequence" || !decoder.TryGetProperty("decoders"u8, out JsonElement steps)
            || steps.ValueKind != JsonValueKind.Array)
        {
            throw Unsupported(sourceName, $"decoder type '{type}'");
        }
        bool fused = false;
        int stepCount = 0;
        foreach (JsonElement step in steps.EnumerateArray())
        {
            stepCount++;
            string stepType = TypeOf(step, sourceName);
            switch (stepType)
            {
                case "ByteLevel":
                    spec.ByteLevel = true;
                    break;
                case "Fuse":
                    fused = true;
                    break;
                case "ByteFallback":
                    spec.ByteFallback = true;
                    break;
                case "Replace":
                    spec.Replacements.Add(ReadReplace(step, sourceName));
                    break;
                case "Strip":
                    spec.ReadStrip(step, fused, sourceName);
                    break;
                default:
                    throw Unsupported(sourceName, $"decoder step '{stepType}' in a Sequence");
            }
        }
        if (spec.ByteLevel && stepCount != 1 && (spec.ByteFallback || spec.StripLeadingSpace || spec.Replacements.Count > 0))
        {
            throw Unsupported(sourceName, "a Sequence decoder that mixes ByteLevel with SentencePiece steps");
        }
        return spec;
    }

    // HF's Metaspace decoder: every replacement character becomes a space, except in the first token, where all of them
    // are dropped unless the prepend scheme is "never". Files before prepend_scheme existed say add_prefix_space (true is
    // "always", false is "never"); neither means "always", as HF's deserializer defaults.
    private void ReadMetaspace(JsonElement decoder, string sourceName)
    {
        string replacement = "\u2581";
        if (decoder.TryGetProperty("replacement"u8, out JsonElement r))
        {
            replacement = r.ValueKind == JsonValueKind.String && r.GetString() is { } value
                && Rune.DecodeFromUtf16(value, out _, out int length) == System.Buffers.OperationStatus.Done && length == value.Length
                ? value
                : throw Unsupported(sourceName, $"Metaspace replacement {r.GetRawText()} (it must be one character)");
        }
        bool? addPrefixSpace = decoder.TryGetProperty("add_prefix_space"u8, out JsonElement a)
            && a.ValueKind is JsonValueKind.True or JsonValueKind.False ? a.GetBoolean() : null;
        string? scheme = decoder.TryGetProperty("prepend_scheme"u8, out JsonElement p) && p.ValueKind != JsonValueKind.Null
            ? (p.ValueKind == JsonValueKind.String ? p.GetString() : p.GetRawText())
            : null;
        if (scheme is not (null or "first" or "always" or "never"))
        {
            throw Unsupported(sourceName, $"Metaspace prepend_scheme '{scheme}'");
        }
        if (addPrefixSpace == false && scheme is "first" or "always")
        {
            throw Unsupported(sourceName, $"Metaspace with add_prefix_space false and prepend_scheme '{scheme}' (they contradict)");
        }
        Replacements.Add((replacement, " "));
        bool never = scheme == "never" || (scheme is null && addPrefixSpace == false);
        FirstTokenDrops = never ? null : replacement;
    }

    private static (string, string) ReadReplace(JsonElement step, string sourceName)
    {
        if (step.TryGetProperty("pattern"u8, out JsonElement pattern) && pattern.ValueKind == JsonValueKind.Object
            && pattern.TryGetProperty("String"u8, out JsonElement literal) && literal.ValueKind == JsonValueKind.String
            && step.TryGetProperty("content"u8, out JsonElement content) && content.ValueKind == JsonValueKind.String
            && literal.GetString()!.Length > 0)
        {
            return (literal.GetString()!, content.GetString()!);
        }
        throw Unsupported(sourceName, "decoder step 'Replace' without a literal String pattern (Regex patterns are not supported)");
    }

    private void ReadStrip(JsonElement step, bool fused, string sourceName)
    {
        string? content = step.TryGetProperty("content"u8, out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        int start = step.TryGetProperty("start"u8, out JsonElement s) && s.TryGetInt32(out int sv) ? sv : -1;
        int stop = step.TryGetProperty("stop"u8, out JsonElement e) && e.TryGetInt32(out int ev) ? ev : -1;
        if (start == 0 && stop == 0)
        {
            return;
        }
        // Before Fuse, Strip would act on every token; after it, on the first character of the whole text, which is
        // the only form real tokenizers use and the only one a streaming decoder can honour.
        if (content != " " || start != 1 || stop != 0 || !fused)
        {
            throw Unsupported(sourceName,
                $"decoder step 'Strip' (content '{content}', start {start}, stop {stop}{(fused ? "" : ", before Fuse")}); only Strip(' ', 1, 0) after Fuse is supported");
        }
        StripLeadingSpace = true;
    }

    private static string TypeOf(JsonElement element, string sourceName) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type"u8, out JsonElement type)
            && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new ModelFormatException($"{sourceName}: a decoder entry has no 'type'.");

    private static ModelFormatException Unsupported(string sourceName, string what) =>
        new($"{sourceName}: unsupported {what}; supported decoders are ByteLevel, Metaspace and the SentencePiece-style Sequence of Replace/ByteFallback/Fuse/Strip.");
}
