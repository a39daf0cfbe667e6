namespace OnnxLm.Builder;

/// <summary>
/// Shape, seed and storage of a generated llama-style test decoder. Equal options always produce byte-identical
/// model folders (<see cref="ModelBuilder.Build"/>); <see cref="Validate"/> rejects shapes the ORT kernels cannot run.
/// </summary>
public sealed record ModelBuilderOptions
{
    /// <summary>Tokens in the vocabulary: 256 byte symbols, BPE merges, then the 3 special tokens.</summary>
    public int VocabSize { get; init; } = 400;

    public int HiddenSize { get; init; } = 64;

    public int NumLayers { get; init; } = 2;

    public int NumHeads { get; init; } = 4;

    /// <summary>Key/value heads of GroupQueryAttention; must divide <see cref="NumHeads"/>.</summary>
    public int NumKvHeads { get; init; } = 2;

    public int HeadSize { get; init; } = 16;

    public int IntermediateSize { get; init; } = 128;

    /// <summary>Rows of the rotary cos/sin caches, which cap the attention-mask width; also genai_config's
    /// <c>context_length</c> and <c>search.max_length</c>.</summary>
    public int ContextLength { get; init; } = 512;

    public ulong Seed { get; init; } = 1234;

    public WeightFormat Weights { get; init; } = WeightFormat.Fp32;

    /// <summary>MatMulNBits block size of <see cref="WeightFormat.Int4"/> weights (16–256, a power of two); 32 as in
    /// users' <c>cpu-int4-rtn-block-32-acc-level-4</c> folders, 128 in the other common export.</summary>
    public int Int4BlockSize { get; init; } = Int4Quantizer.DefaultBlockSize;

    /// <summary>MatMulNBits <c>accuracy_level</c> of Int4 weights: 4 (int8 compute) as GenAI's model builder writes
    /// for CPU; 0 = unset (fp32 compute).</summary>
    public int Int4AccuracyLevel { get; init; } = 4;

    public double RopeTheta { get; init; } = 10000.0;

    public float RmsEps { get; init; } = 1e-6f;

    /// <summary>Initializer bytes above which weights go to <c>model.onnx.data</c> (ONNX external data) instead of
    /// inside <c>model.onnx</c>; keeps clear of protobuf's 2 GB limit. 0 forces external data.</summary>
    public long ExternalDataThreshold { get; init; } = 64L << 20;

    /// <summary>A real family's tokenizer files to use instead of the generated vocabulary; null for the generated one.
    /// With it, <see cref="VocabSize"/> is the logits width and the special ids come from the source.</summary>
    public TokenizerSource? Tokenizer { get; init; }

    /// <summary>About 0.5 MB fp32: vocab 400, hidden 64, 2 layers, 4 heads (2 kv) of 16, MLP 128, context 512.</summary>
    public static ModelBuilderOptions Tiny { get; } = new();

    /// <summary>About 125M parameters: vocab 32000, hidden 768, 12 layers, 12 heads (4 kv) of 64, MLP 2048,
    /// context 2048.</summary>
    public static ModelBuilderOptions Benchmark { get; } = new()
    {
        VocabSize = 32000,
        HiddenSize = 768,
        NumLayers = 12,
        NumHeads = 12,
        NumKvHeads = 4,
        HeadSize = 64,
        IntermediateSize = 2048,
        ContextLength = 2048,
    };

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (also bos and pad): <c>VocabSize - 3</c>.</summary>
    public int EndOfTextTokenId => Tokenizer?.BosTokenId ?? VocabSize - 3;

    /// <summary>Id of <c>&lt;|im_start|&gt;</c>: <c>VocabSize - 2</c>.</summary>
    public int ImStartTokenId => VocabSize - 2;

    /// <summary>Id of <c>&lt;|im_end|&gt;</c> (the first eos id): <c>VocabSize - 1</c>.</summary>
    public int ImEndTokenId => Tokenizer is { } t ? t.EosTokenIds[0] : VocabSize - 1;

    /// <summary>Number of weights (embedding, projections, norms, lm_head), not counting the rotary caches.</summary>
    public long ParameterCount
    {
        get
        {
            long h = HiddenSize, q = (long)NumHeads * HeadSize, kv = (long)NumKvHeads * HeadSize;
            long perLayer = h * q + 2 * h * kv + q * h + 3 * h * IntermediateSize + 2 * h;
            return 2L * VocabSize * h + NumLayers * perLayer + h;
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> whose <c>ParamName</c> names the offending option.</summary>
    public void Validate()
    {
        Require(VocabSize >= ModelBuilder.ByteTokenCount + ModelBuilder.SpecialTokenCount, nameof(VocabSize),
            $"must be at least {ModelBuilder.ByteTokenCount + ModelBuilder.SpecialTokenCount} (256 byte tokens + 3 specials)");
        Require(HiddenSize > 0, nameof(HiddenSize), "must be positive");
        Require(NumLayers > 0, nameof(NumLayers), "must be positive");
        Require(NumHeads > 0, nameof(NumHeads), "must be positive");
        Require(NumKvHeads > 0 && NumKvHeads <= NumHeads, nameof(NumKvHeads), "must be in [1, NumHeads]");
        Require(NumHeads % NumKvHeads == 0, nameof(NumKvHeads), "must divide NumHeads (GroupQueryAttention)");
        Require(HeadSize > 0 && HeadSize % 2 == 0, nameof(HeadSize), "must be positive and even (rotary embedding)");
        Require(IntermediateSize > 0, nameof(IntermediateSize), "must be positive");
        Require(ContextLength > 0, nameof(ContextLength), "must be positive");
        Require(double.IsFinite(RopeTheta) && RopeTheta > 1, nameof(RopeTheta), "must be finite and > 1");
        Require(float.IsFinite(RmsEps) && RmsEps > 0, nameof(RmsEps), "must be finite and positive");
        Require(Enum.IsDefined(Weights), nameof(Weights), "is not a known WeightFormat");
        // Each weight matrix is generated in one array.
        Require((long)VocabSize * HiddenSize <= Array.MaxLength, nameof(VocabSize), "times HiddenSize exceeds one array");
        Require((long)IntermediateSize * HiddenSize <= Array.MaxLength, nameof(IntermediateSize), "times HiddenSize exceeds one array");
        Require((long)NumHeads * HeadSize * HiddenSize <= Array.MaxLength, nameof(NumHeads), "times HeadSize times HiddenSize exceeds one array");
        if (Tokenizer is { } source)
        {
            Require(source.Files.Length > 0 && source.Files.Any(f => Path.GetFileName(f) == ModelBuilder.TokenizerFileName),
                nameof(Tokenizer), "must include a tokenizer.json");
            Require(!source.EosTokenIds.IsDefaultOrEmpty && source.EosTokenIds.All(id => id >= 0 && id < VocabSize),
                nameof(Tokenizer), $"eos ids must be in [0, VocabSize {VocabSize})");
        }
        Require(ExternalDataThreshold >= 0, nameof(ExternalDataThreshold), "must not be negative");
        Require(Int4Quantizer.IsValidBlockSize(Int4BlockSize), nameof(Int4BlockSize), "must be a power of two in [16, 256]");
        Require(Int4AccuracyLevel is >= 0 and <= 4, nameof(Int4AccuracyLevel), "must be in [0, 4]");
        if (Weights == WeightFormat.Int4)
        {
            // MatMulNBits quantizes each K (input) dimension in blocks.
            string why = $"must be a multiple of {Int4BlockSize} for Int4 weights (MatMulNBits block_size {Int4BlockSize})";
            Require(HiddenSize % Int4BlockSize == 0, nameof(HiddenSize), why);
            Require(NumHeads * HeadSize % Int4BlockSize == 0, nameof(NumHeads), "times HeadSize " + why);
            Require(IntermediateSize % Int4BlockSize == 0, nameof(IntermediateSize), why);
        }
    }

    private static void Require(bool ok, string option, string message)
    {
        if (!ok)
            throw new ArgumentException($"{option} {message}.", option);
    }
}
