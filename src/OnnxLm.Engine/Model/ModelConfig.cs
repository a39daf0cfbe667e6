using System.Text.Json;

namespace OnnxLm.Engine.Model;

/// <summary>
/// What the engine needs from an ONNX Runtime GenAI <c>genai_config.json</c>: every name, size and special token id
/// comes from here (and is cross-checked against the graph by <see cref="ModelContract"/>), never from a hard-coded default.
/// </summary>
public sealed class ModelConfig
{
    public required string ModelType { get; init; }
    public required string ModelFile { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int HeadSize { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int NumLayers { get; init; }
    public required int[] EosTokenIds { get; init; }
    public int BosTokenId { get; init; } = -1;
    public int PadTokenId { get; init; } = -1;
    public required string InputIdsName { get; init; }
    public required string AttentionMaskName { get; init; }
    public string? PositionIdsName { get; init; }
    public required string PastKeyNameFormat { get; init; }
    public required string PastValueNameFormat { get; init; }
    public required string LogitsName { get; init; }
    public required string PresentKeyNameFormat { get; init; }
    public required string PresentValueNameFormat { get; init; }
    public bool PastPresentShareBuffer { get; init; }

    public string PastKeyName(int layer) => PastKeyNameFormat.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public string PastValueName(int layer) => PastValueNameFormat.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public string PresentKeyName(int layer) => PresentKeyNameFormat.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public string PresentValueName(int layer) => PresentValueNameFormat.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Reads and validates <c>genai_config.json</c> in <paramref name="modelDir"/>.</summary>
    public static ModelConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, "genai_config.json");
        if (!File.Exists(path))
            throw new ModelFormatException($"{path} is missing: a model folder needs genai_config.json (ONNX Runtime GenAI format)");
        JsonDocument doc = ModelJsonFile.Parse(path);
        using (doc)
        {
            var root = doc.RootElement;
            var model = Required(root, "model", path);
            if (model.TryGetProperty("encoder", out _))
                throw new ModelFormatException($"{path}: encoder-decoder models are not supported (model.encoder is present); onnxlm serves decoder-only models");
            foreach (string unsupported in new[] { "vision", "speech", "embedding" })
                if (model.TryGetProperty(unsupported, out _))
                    throw new ModelFormatException($"{path}: multimodal models are not supported (model.{unsupported} is present)");
            var decoder = Required(model, "decoder", path, "model.");
            var inputs = Required(decoder, "inputs", path, "model.decoder.");
            var outputs = Required(decoder, "outputs", path, "model.decoder.");
            bool share = false;
            if (root.TryGetProperty("search", out var search) && search.TryGetProperty("past_present_share_buffer", out var spb))
                share = spb.ValueKind == JsonValueKind.True;
            int context = Int(model, "context_length", path, "model.");
            return new ModelConfig
            {
                ModelType = Str(model, "type", path, "model."),
                ModelFile = Str(decoder, "filename", path, "model.decoder."),
                ContextLength = context,
                VocabSize = Int(model, "vocab_size", path, "model."),
                HiddenSize = Int(decoder, "hidden_size", path, "model.decoder."),
                HeadSize = Int(decoder, "head_size", path, "model.decoder."),
                NumHeads = Int(decoder, "num_attention_heads", path, "model.decoder."),
                NumKvHeads = Int(decoder, "num_key_value_heads", path, "model.decoder."),
                NumLayers = Int(decoder, "num_hidden_layers", path, "model.decoder."),
                EosTokenIds = WithGenerationConfigEos(IntList(model, "eos_token_id", path), modelDir),
                BosTokenId = OptionalInt(model, "bos_token_id"),
                PadTokenId = OptionalInt(model, "pad_token_id"),
                InputIdsName = Str(inputs, "input_ids", path, "model.decoder.inputs."),
                AttentionMaskName = Str(inputs, "attention_mask", path, "model.decoder.inputs."),
                PositionIdsName = inputs.TryGetProperty("position_ids", out var pos) && pos.ValueKind == JsonValueKind.String ? pos.GetString() : null,
                PastKeyNameFormat = Str(inputs, "past_key_names", path, "model.decoder.inputs."),
                PastValueNameFormat = Str(inputs, "past_value_names", path, "model.decoder.inputs."),
                LogitsName = Str(outputs, "logits", path, "model.decoder.outputs."),
                PresentKeyNameFormat = Str(outputs, "present_key_names", path, "model.decoder.outputs."),
                PresentValueNameFormat = Str(outputs, "present_value_names", path, "model.decoder.outputs."),
                PastPresentShareBuffer = share,
            };
        }
    }

    /// <summary>
    /// Generation stops on every end id the model declares: genai_config's and, when the folder has one, those of
    /// <c>generation_config.json</c> (transformers' own stop list; Llama 3.x lists <c>&lt;|eot_id|&gt;</c> and
    /// <c>&lt;|eom_id|&gt;</c> there, and exports do not always copy them into genai_config).
    /// </summary>
    static int[] WithGenerationConfigEos(int[] eos, string modelDir)
    {
        string path = Path.Combine(modelDir, "generation_config.json");
        if (!File.Exists(path)) return eos;
        JsonDocument doc = ModelJsonFile.Parse(path);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("eos_token_id", out var v)
                || v.ValueKind == JsonValueKind.Null)
                return eos;
            var merged = new List<int>(eos);
            void Add(JsonElement id)
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int value) || value < 0)
                    throw new ModelFormatException($"{path}: eos_token_id must hold non-negative integers");
                if (!merged.Contains(value)) merged.Add(value);
            }
            if (v.ValueKind == JsonValueKind.Array) foreach (var id in v.EnumerateArray()) Add(id);
            else Add(v);
            return [.. merged];
        }
    }

    static JsonElement Required(JsonElement e, string name, string path, string prefix = "")
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"{path}: {prefix}{name} is missing or not an object");
        return v;
    }

    static string Str(JsonElement e, string name, string path, string prefix)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(v.GetString()))
            throw new ModelFormatException($"{path}: {prefix}{name} is missing or not a string");
        return v.GetString()!;
    }

    static int Int(JsonElement e, string name, string path, string prefix)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i <= 0)
            throw new ModelFormatException($"{path}: {prefix}{name} is missing or not a positive integer");
        return i;
    }

    static int OptionalInt(JsonElement e, string name)
    {
        if (e.TryGetProperty(name, out var v))
        {
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
            if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].TryGetInt32(out int j)) return j;
        }
        return -1;
    }

    static int[] IntList(JsonElement e, string name, string path)
    {
        if (e.TryGetProperty(name, out var v))
        {
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int one)) return [one];
            if (v.ValueKind == JsonValueKind.Array)
            {
                var list = new int[v.GetArrayLength()];
                int k = 0;
                foreach (var item in v.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out list[k++]))
                        throw new ModelFormatException($"{path}: model.{name} must hold integers");
                }
                if (list.Length > 0) return list;
            }
        }
        throw new ModelFormatException($"{path}: model.{name} is missing (the end-of-sequence token id(s))");
    }
}
