using Onnx;
using static OnnxLm.Builder.GraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OnnxLm.Builder;

/// <summary>
/// The llama-style decoder graph of the GenAI model builder (docs/ENGINE.md §9): Gather embedding, SimplifiedLayerNorm,
/// GroupQueryAttention with fused rotary and in-graph <c>seqlens_k</c>/<c>total_sequence_length</c>, SiLU MLP,
/// SkipSimplifiedLayerNorm residuals and an lm_head over every position. Every weight is drawn from a stream seeded
/// by (options seed, tensor name), so values do not depend on build order or thread count; int4 models quantize the
/// very same float weights.
/// </summary>
internal static class DecoderGraph
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string PastKeyFormat = "past_key_values.%d.key";
    public const string PastValueFormat = "past_key_values.%d.value";
    public const string Logits = "logits";
    public const string PresentKeyFormat = "present.%d.key";
    public const string PresentValueFormat = "present.%d.value";

    /// <summary>Std of the logits for a unit-RMS final hidden state: a few units, so greedy ties are essentially
    /// impossible while the distribution is not one-hot.</summary>
    private const float LogitStd = 4f;

    /// <summary>Norm of the component along its own embedding subtracted from each lm_head column.</summary>
    private const float SelfPenalty = 4f;

    // The scales below were tuned by generating with GenAI (tiny and Benchmark presets): with plain 1/sqrt(fan_in)
    // weights, attention is nearly uniform and deep models collapse into two-token cycles.

    /// <summary>q and k scale: attention scores get a std of about QkStd^2 (~3), so heads attend selectively.</summary>
    private const float QkStd = 1.7f;

    /// <summary>o_proj scale relative to 1/sqrt(fan_in): attention weighs more than the current token's embedding.</summary>
    private const float OutputProjectionStd = 2f;

    /// <summary>Sublayer outputs shrink by sqrt(2 / layers) beyond 2 layers, so the residual stream of a deep model is
    /// not a sum of so many terms that the current token no longer matters.</summary>
    private const float ReferenceLayers = 2f;

    public static string Name(string format, int layer) =>
        format.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    /// <summary>Bytes of all initializers, to decide between inline and external data before writing any.</summary>
    public static long WeightBytes(ModelBuilderOptions o)
    {
        long h = o.HiddenSize, q = (long)o.NumHeads * o.HeadSize, kv = (long)o.NumKvHeads * o.HeadSize;
        long perLayer = MatMulBytes(o, h, q) + 2 * MatMulBytes(o, h, kv) + MatMulBytes(o, q, h)
            + 2 * MatMulBytes(o, h, o.IntermediateSize) + MatMulBytes(o, o.IntermediateSize, h) + 2 * h * 4;
        long rotary = 2L * o.ContextLength * (o.HeadSize / 2) * 4;
        return (long)o.VocabSize * h * 4 + o.NumLayers * perLayer + h * 4 + MatMulBytes(o, h, o.VocabSize) + rotary;
    }

    private static long MatMulBytes(ModelBuilderOptions o, long k, long n) =>
        o.Weights == WeightFormat.Int4 ? n * (k / o.Int4BlockSize) * (o.Int4BlockSize / 2 + 4) : k * n * 4;

    public static ModelProto Build(ModelBuilderOptions o, WeightStore store)
    {
        var g = new GraphBuilder();
        int h = o.HiddenSize, qDim = o.NumHeads * o.HeadSize, kvDim = o.NumKvHeads * o.HeadSize;

        g.Input(InputIds, DataType.Int64, Dim("batch_size"), Dim("sequence_length"));
        g.Input(AttentionMask, DataType.Int64, Dim("batch_size"), Dim("total_sequence_length"));
        for (int l = 0; l < o.NumLayers; l++)
        {
            g.Input(Name(PastKeyFormat, l), DataType.Float, Dim("batch_size"), Dim(o.NumKvHeads), Dim("past_sequence_length"), Dim(o.HeadSize));
            g.Input(Name(PastValueFormat, l), DataType.Float, Dim("batch_size"), Dim(o.NumKvHeads), Dim("past_sequence_length"), Dim(o.HeadSize));
        }
        g.Output(Logits, DataType.Float, Dim("batch_size"), Dim("sequence_length"), Dim(o.VocabSize));
        for (int l = 0; l < o.NumLayers; l++)
        {
            g.Output(Name(PresentKeyFormat, l), DataType.Float, Dim("batch_size"), Dim(o.NumKvHeads), Dim("total_sequence_length"), Dim(o.HeadSize));
            g.Output(Name(PresentValueFormat, l), DataType.Float, Dim("batch_size"), Dim(o.NumKvHeads), Dim("total_sequence_length"), Dim(o.HeadSize));
        }

        // GQA derives positions from the mask: seqlens_k = sum(mask) - 1 per row, total = mask width.
        g.Initializer(WeightStore.Constant<long>("/const/axes_1", DataType.Int64, [1], [1L]));
        g.Initializer(WeightStore.Constant<int>("/const/one_i32", DataType.Int32, [], [1]));
        g.Initializer(WeightStore.Constant<long>("/const/index_1", DataType.Int64, [], [1L]));
        string maskI32 = g.Node("Cast", "/mask/cast", [AttentionMask], "", Int("to", (long)DataType.Int32));
        string maskSum = g.Node("ReduceSum", "/mask/sum", [maskI32, "/const/axes_1"], "", Int("keepdims", 0));
        string seqlensK = g.Node("Sub", "/mask/seqlens_k", [maskSum, "/const/one_i32"]);
        string maskShape = g.Node("Shape", "/mask/shape", [AttentionMask]);
        string width = g.Node("Gather", "/mask/width", [maskShape, "/const/index_1"], "", Int("axis", 0));
        string total = g.Node("Cast", "/mask/total", [width], "", Int("to", (long)DataType.Int32));

        AddRotaryCaches(g, store, o);

        const string embed = "model.embed_tokens.weight";
        var embedding = Weight(g, store, o, embed, o.VocabSize, h, 0f, 1f);
        string x = g.Node("Gather", "/model/embed_tokens/Gather", [embed, InputIds], "", Int("axis", 0));

        float invSqrtH = 1f / MathF.Sqrt(h);
        float outScale = MathF.Min(1f, MathF.Sqrt(ReferenceLayers / o.NumLayers));
        string residual = x;
        string pending = ""; // the sublayer output not yet added to the residual stream
        for (int l = 0; l < o.NumLayers; l++)
        {
            string p = $"/model/layers.{l}";
            string inputNorm = $"model.layers.{l}.input_layernorm.weight";
            Weight(g, store, o, inputNorm, 1, h, 1f, 0.1f);
            string hidden = l == 0
                ? g.Node("SimplifiedLayerNormalization", $"{p}/input_layernorm", [x, inputNorm], "",
                    Int("axis", -1), Float("epsilon", o.RmsEps), Int("stash_type", 1))
                : SkipNorm(g, $"{p}/input_layernorm", pending, inputNorm, o.RmsEps, ref residual);

            string q = Projection(g, store, o, $"model.layers.{l}.attn.q_proj", hidden, h, qDim, QkStd * invSqrtH);
            string k = Projection(g, store, o, $"model.layers.{l}.attn.k_proj", hidden, h, kvDim, QkStd * invSqrtH);
            string v = Projection(g, store, o, $"model.layers.{l}.attn.v_proj", hidden, h, kvDim, invSqrtH);
            string attention = $"{p}/attn/GroupQueryAttention";
            g.Node("GroupQueryAttention", attention,
                [q, k, v, Name(PastKeyFormat, l), Name(PastValueFormat, l), seqlensK, total, "cos_cache", "sin_cache"],
                [attention, Name(PresentKeyFormat, l), Name(PresentValueFormat, l)], MicrosoftDomain,
                Int("num_heads", o.NumHeads), Int("kv_num_heads", o.NumKvHeads), Int("do_rotary", 1),
                Int("rotary_interleaved", 0), Float("scale", 1f / MathF.Sqrt(o.HeadSize)));
            pending = Projection(g, store, o, $"model.layers.{l}.attn.o_proj", attention, qDim, h, OutputProjectionStd * outScale / MathF.Sqrt(qDim));

            string postNorm = $"model.layers.{l}.post_attention_layernorm.weight";
            Weight(g, store, o, postNorm, 1, h, 1f, 0.1f);
            hidden = SkipNorm(g, $"{p}/post_attention_layernorm", pending, postNorm, o.RmsEps, ref residual);

            string gate = Projection(g, store, o, $"model.layers.{l}.mlp.gate_proj", hidden, h, o.IntermediateSize, invSqrtH);
            string up = Projection(g, store, o, $"model.layers.{l}.mlp.up_proj", hidden, h, o.IntermediateSize, invSqrtH);
            string sigmoid = g.Node("Sigmoid", $"{p}/mlp/act/Sigmoid", [gate]);
            string silu = g.Node("Mul", $"{p}/mlp/act/Mul", [gate, sigmoid]);
            string product = g.Node("Mul", $"{p}/mlp/Mul", [silu, up]);
            pending = Projection(g, store, o, $"model.layers.{l}.mlp.down_proj", product, o.IntermediateSize, h,
                outScale / MathF.Sqrt(o.IntermediateSize));
        }

        string finalNorm = "model.norm.weight";
        Weight(g, store, o, finalNorm, 1, h, 1f, 0.1f);
        string final = SkipNorm(g, "/model/norm", pending, finalNorm, o.RmsEps, ref residual);
        Projection(g, store, o, "lm_head", final, h, o.VocabSize, LogitStd * invSqrtH, output: Logits,
            adjust: w => ShapeLmHead(w, embedding, h, o.VocabSize));

        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "onnxlm-model-builder",
            ProducerVersion = ModelBuilder.FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return model;
    }

    /// <summary>Adds <paramref name="delta"/> to the residual stream and normalizes it: output 0 is the normalized
    /// value, output 3 the new residual sum.</summary>
    private static string SkipNorm(GraphBuilder g, string name, string delta, string weight, float eps, ref string residual)
    {
        string sum = name + "/output_3";
        g.Node("SkipSimplifiedLayerNormalization", name, [residual, delta, weight], [name, "", "", sum], MicrosoftDomain,
            Float("epsilon", eps));
        residual = sum;
        return name;
    }

    /// <summary><c>input[.., k] x W[k, n]</c>, as MatMul (fp32) or MatMulNBits (int4 of the same weights).</summary>
    private static string Projection(GraphBuilder g, WeightStore store, ModelBuilderOptions o, string prefix, string input,
        int k, int n, float std, string? output = null, Action<float[]>? adjust = null)
    {
        string name = output ?? "/" + prefix.Replace('.', '/') + "/MatMul";
        var weight = GC.AllocateUninitializedArray<float>(k * n);
        WeightRandom.FillNormalParallel(weight, Seed(o, prefix + ".weight"), 0f, std);
        adjust?.Invoke(weight);
        if (o.Weights == WeightFormat.Fp32)
        {
            string w = prefix + ".weight";
            g.Initializer(store.Add<float>(w, DataType.Float, [k, n], weight));
            g.Node("MatMul", name, [input, w], [name], "");
            return name;
        }

        int blockSize = o.Int4BlockSize, blocks = k / blockSize;
        var packed = new byte[n * blocks * (blockSize / 2)];
        var scales = new float[n * blocks];
        Int4Quantizer.Quantize(weight, k, n, packed, scales, blockSize);
        string qName = prefix + ".weight_Q4", sName = prefix + ".weight_scales";
        g.Initializer(store.Add<byte>(qName, DataType.Uint8, [n, blocks, blockSize / 2], packed));
        g.Initializer(store.Add<float>(sName, DataType.Float, [(long)n * blocks], scales));
        // accuracy_level 4: int8 activations with int4 weights (MLAS's CompInt8 kernels), as GenAI's model builder
        // writes for CPU folders; 0 leaves the attribute out (fp32 compute).
        if (o.Int4AccuracyLevel > 0)
            g.Node("MatMulNBits", name, [input, qName, sName], [name], MicrosoftDomain,
                Int("K", k), Int("N", n), Int("bits", 4), Int("block_size", blockSize), Int("accuracy_level", o.Int4AccuracyLevel));
        else
            g.Node("MatMulNBits", name, [input, qName, sName], [name], MicrosoftDomain,
                Int("K", k), Int("N", n), Int("bits", 4), Int("block_size", blockSize));
        return name;
    }

    /// <summary>
    /// Keeps greedy decoding of a random model from locking into one repeated token: every lm_head column
    /// <c>W[:, v]</c> gets the same norm (random norms make a few "popular" tokens win everywhere), then loses a
    /// component along its own token's embedding direction, so the current token (still present in the residual
    /// stream) scores lower as the next one.
    /// </summary>
    private static void ShapeLmHead(float[] lmHead, float[] embedding, int h, int vocab)
    {
        var columnNorm = new double[vocab];
        for (int r = 0; r < h; r++)
        {
            var row = lmHead.AsSpan(r * vocab, vocab);
            for (int v = 0; v < vocab; v++)
                columnNorm[v] += (double)row[v] * row[v];
        }
        var scale = new float[vocab];
        var embeddingScale = new float[vocab];
        for (int v = 0; v < vocab; v++)
        {
            scale[v] = columnNorm[v] > 0 ? (float)(LogitStd / Math.Sqrt(columnNorm[v])) : 0f;
            float embeddingNorm = System.Numerics.Tensors.TensorPrimitives.Norm(embedding.AsSpan(v * h, h));
            embeddingScale[v] = embeddingNorm > 0 ? SelfPenalty / embeddingNorm : 0f;
        }
        for (int r = 0; r < h; r++)
        {
            var row = lmHead.AsSpan(r * vocab, vocab);
            for (int v = 0; v < vocab; v++)
                row[v] = row[v] * scale[v] - embedding[v * h + r] * embeddingScale[v];
        }
    }

    /// <summary>Adds a float weight of <c>rows x cols</c> (a vector when rows is 1) drawn from N(mean, std) and
    /// returns its values.</summary>
    private static float[] Weight(GraphBuilder g, WeightStore store, ModelBuilderOptions o, string name, int rows, int cols,
        float mean, float std)
    {
        var values = GC.AllocateUninitializedArray<float>(rows * cols);
        WeightRandom.FillNormalParallel(values, Seed(o, name), mean, std);
        g.Initializer(rows == 1
            ? store.Add<float>(name, DataType.Float, [cols], values)
            : store.Add<float>(name, DataType.Float, [rows, cols], values));
        return values;
    }

    /// <summary>cos/sin caches <c>[ContextLength, HeadSize/2]</c> with <c>inv_freq = theta^(-2i/hd)</c>.</summary>
    private static void AddRotaryCaches(GraphBuilder g, WeightStore store, ModelBuilderOptions o)
    {
        int half = o.HeadSize / 2;
        var cos = new float[o.ContextLength * half];
        var sin = new float[o.ContextLength * half];
        for (int i = 0; i < half; i++)
        {
            double invFreq = Math.Pow(o.RopeTheta, -2.0 * i / o.HeadSize);
            for (int p = 0; p < o.ContextLength; p++)
            {
                (double s, double c) = Math.SinCos(p * invFreq);
                cos[p * half + i] = (float)c;
                sin[p * half + i] = (float)s;
            }
        }
        g.Initializer(store.Add<float>("cos_cache", DataType.Float, [o.ContextLength, half], cos));
        g.Initializer(store.Add<float>("sin_cache", DataType.Float, [o.ContextLength, half], sin));
    }

    private static ulong Seed(ModelBuilderOptions o, string tensorName) => WeightRandom.Derive(o.Seed, WeightRandom.Label(tensorName));
}
