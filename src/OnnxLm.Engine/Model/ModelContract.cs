using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxLm.Engine.Model;

/// <summary>
/// A model folder checked against the engine's contract (docs/ENGINE.md §2): a decoder-only GenAI model whose attention is
/// com.microsoft GroupQueryAttention with past and present sharing one buffer. Everything the runner binds by name or
/// sizes by shape is taken from here. Anything else is refused with a <see cref="ModelFormatException"/> naming what is missing.
/// </summary>
public sealed class ModelContract
{
    public required string Directory { get; init; }
    public required ModelConfig Config { get; init; }
    public required string ModelPath { get; init; }
    public required TensorElementType KvType { get; init; }
    public required TensorElementType LogitsType { get; init; }
    /// <summary>Largest total sequence length the graph can run: min(context_length, rows of the rotary cos/sin cache).</summary>
    public required int MaxPositions { get; init; }

    public int KvElementSize => KvType == TensorElementType.Float ? 4 : 2;

    /// <summary>Validates everything that can be checked without ORT: files, config and graph structure.</summary>
    public static ModelContract Inspect(string modelDir)
    {
        if (!System.IO.Directory.Exists(modelDir))
            throw new ModelFormatException($"model directory {modelDir} does not exist");
        var config = ModelConfig.Load(modelDir);
        string modelPath = Path.Combine(modelDir, config.ModelFile);
        if (!File.Exists(modelPath))
            throw new ModelFormatException($"{modelPath} is missing (named by model.decoder.filename in genai_config.json)");
        foreach (var required in new[] { "tokenizer.json", "tokenizer_config.json" })
            if (!File.Exists(Path.Combine(modelDir, required)))
                throw new ModelFormatException($"{Path.Combine(modelDir, required)} is missing");
        if (!config.PastPresentShareBuffer)
            throw new ModelFormatException("genai_config.json: search.past_present_share_buffer must be true; onnxlm binds one KV buffer as both past and present");
        if (config.NumHeads % config.NumKvHeads != 0)
            throw new ModelFormatException($"genai_config.json: num_attention_heads {config.NumHeads} is not a multiple of num_key_value_heads {config.NumKvHeads}");

        var graph = OnnxGraphInspector.Read(modelPath);
        if (graph.GroupQueryAttention.Count == 0)
        {
            string found = string.Join(", ", graph.OpTypes.Where(o => o.Contains("Attention", StringComparison.Ordinal)).Order());
            throw new ModelFormatException($"{modelPath}: no com.microsoft GroupQueryAttention node" +
                (found.Length > 0 ? $" (found {found})" : "") + "; onnxlm needs a GenAI model-builder decoder with GroupQueryAttention");
        }
        if (graph.GroupQueryAttention.Count != config.NumLayers)
            throw new ModelFormatException($"{modelPath}: {graph.GroupQueryAttention.Count} GroupQueryAttention nodes but num_hidden_layers is {config.NumLayers}");
        int maxPositions = config.ContextLength;
        foreach (var node in graph.GroupQueryAttention)
        {
            if (node.KvNumHeads != config.NumKvHeads || node.NumHeads != config.NumHeads)
                throw new ModelFormatException($"{modelPath}: GroupQueryAttention has num_heads={node.NumHeads}, kv_num_heads={node.KvNumHeads}; genai_config.json says {config.NumHeads}/{config.NumKvHeads}");
            // Inputs: q, k, v, past_key, past_value, seqlens_k, total_sequence_length, cos_cache, sin_cache.
            if (node.DoRotary != 0 && node.Inputs.Length > 7 && graph.InitializerDims.TryGetValue(node.Inputs[7], out var dims) && dims.Length == 2)
                maxPositions = (int)Math.Min(maxPositions, dims[0]);
        }
        // The KV type as the graph declares it (the session confirms it in CheckSession): the memory plan needs it first.
        var kvType = graph.InputElementTypes.TryGetValue(config.PastKeyName(0), out int elem) && elem == 10
            ? TensorElementType.Float16 : TensorElementType.Float;
        return new ModelContract
        {
            Directory = Path.GetFullPath(modelDir),
            Config = config,
            ModelPath = modelPath,
            KvType = kvType,
            LogitsType = TensorElementType.Float,
            MaxPositions = maxPositions,
        };
    }

    /// <summary>Checks the session's declared inputs and outputs against the config and returns the contract with the
    /// element types filled in.</summary>
    public ModelContract CheckSession(InferenceSession session)
    {
        var c = Config;
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        var known = new HashSet<string>(StringComparer.Ordinal) { c.InputIdsName, c.AttentionMaskName };
        if (c.PositionIdsName is not null) known.Add(c.PositionIdsName);
        RequireType(inputs, c.InputIdsName, TensorElementType.Int64, "input");
        RequireType(inputs, c.AttentionMaskName, TensorElementType.Int64, "input");
        if (c.PositionIdsName is not null && inputs.ContainsKey(c.PositionIdsName))
            RequireType(inputs, c.PositionIdsName, TensorElementType.Int64, "input");
        TensorElementType kvType = default;
        for (int l = 0; l < c.NumLayers; l++)
        {
            foreach (var (name, meta, kind) in new[] { (c.PastKeyName(l), inputs, "input"), (c.PastValueName(l), inputs, "input"),
                                                       (c.PresentKeyName(l), outputs, "output"), (c.PresentValueName(l), outputs, "output") })
            {
                if (!meta.TryGetValue(name, out var m))
                    throw new ModelFormatException($"{ModelPath}: graph {kind} '{name}' (from genai_config.json) is missing");
                var t = m.ElementDataType;
                if (t != TensorElementType.Float && t != TensorElementType.Float16)
                    throw new ModelFormatException($"{ModelPath}: KV tensor '{name}' is {t}; only float32 and float16 KV are supported");
                if (kvType == default) kvType = t;
                else if (t != kvType) throw new ModelFormatException($"{ModelPath}: KV tensors mix {kvType} and {t}");
                var d = m.Dimensions;
                if (d.Length != 4 || (d[1] > 0 && d[1] != c.NumKvHeads) || (d[3] > 0 && d[3] != c.HeadSize))
                    throw new ModelFormatException($"{ModelPath}: KV tensor '{name}' has shape [{string.Join(",", d)}]; expected [batch, {c.NumKvHeads}, seq, {c.HeadSize}]");
            }
            known.Add(c.PastKeyName(l));
            known.Add(c.PastValueName(l));
        }
        foreach (var name in inputs.Keys)
            if (!known.Contains(name))
                throw new ModelFormatException($"{ModelPath}: graph input '{name}' is not supported (onnxlm feeds input_ids, attention_mask, position_ids and past KV only)");
        if (!outputs.TryGetValue(c.LogitsName, out var logits))
            throw new ModelFormatException($"{ModelPath}: graph output '{c.LogitsName}' is missing");
        if (logits.ElementDataType != TensorElementType.Float && logits.ElementDataType != TensorElementType.Float16)
            throw new ModelFormatException($"{ModelPath}: logits are {logits.ElementDataType}; expected float32 or float16");
        var ld = logits.Dimensions;
        if (ld.Length != 3 || (ld[2] > 0 && ld[2] != c.VocabSize))
            throw new ModelFormatException($"{ModelPath}: logits shape [{string.Join(",", ld)}] does not match vocab_size {c.VocabSize}");
        return new ModelContract
        {
            Directory = Directory,
            Config = c,
            ModelPath = ModelPath,
            MaxPositions = MaxPositions,
            KvType = kvType,
            LogitsType = logits.ElementDataType,
        };
    }

    void RequireType(IReadOnlyDictionary<string, NodeMetadata> meta, string name, TensorElementType type, string kind)
    {
        if (!meta.TryGetValue(name, out var m))
            throw new ModelFormatException($"{ModelPath}: graph {kind} '{name}' (from genai_config.json) is missing");
        if (m.ElementDataType != type)
            throw new ModelFormatException($"{ModelPath}: graph {kind} '{name}' is {m.ElementDataType}, expected {type}");
    }
}
