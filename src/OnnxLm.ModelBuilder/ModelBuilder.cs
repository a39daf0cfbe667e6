namespace OnnxLm.Builder;

/// <summary>
/// Writes a deterministic, seeded llama-style decoder folder in the ONNX Runtime GenAI model-builder format
/// (docs/ENGINE.md §2, §9): <c>model.onnx</c> (+ <c>model.onnx.data</c> for large weights), <c>tokenizer.json</c>,
/// <c>tokenizer_config.json</c> and <c>genai_config.json</c>. Invariants: equal options give byte-identical files;
/// every file is renamed into place after it is complete and <c>genai_config.json</c> is written last, so a folder
/// that has it is complete.
/// </summary>
public static class ModelBuilder
{
    /// <summary>Bumped whenever the bytes written for the same options change.</summary>
    public const int FormatVersion = 4;

    public const string ModelFileName = "model.onnx";
    public const string ExternalDataFileName = "model.onnx.data";
    public const string GenAiConfigFileName = "genai_config.json";
    public const string TokenizerFileName = "tokenizer.json";
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    public const string EndOfText = "<|endoftext|>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    internal const int ByteTokenCount = 256;
    internal const int SpecialTokenCount = 3;

    /// <summary>Builds the model folder at <paramref name="directory"/> (created if missing, files replaced).</summary>
    /// <exception cref="ArgumentException">An option is invalid; <c>ParamName</c> names it.</exception>
    public static void Build(string directory, ModelBuilderOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        Directory.CreateDirectory(directory);
        string config = Path.Combine(directory, GenAiConfigFileName);
        File.Delete(config); // the folder must not look complete while older files are being replaced

        if (options.Tokenizer is { } source)
        {
            foreach (string file in source.Files)
                AtomicFile.Write(Path.Combine(directory, Path.GetFileName(file)), file,
                    static (s, from) => { using var input = File.OpenRead(from); input.CopyTo(s); });
        }
        else
        {
            var vocabulary = BpeVocabulary.Train(options.VocabSize - SpecialTokenCount, options.Seed);
            AtomicFile.Write(Path.Combine(directory, TokenizerFileName), (vocabulary, options),
                static (s, state) => TokenizerFiles.WriteTokenizerJson(s, state.vocabulary, state.options));
            AtomicFile.Write(Path.Combine(directory, TokenizerConfigFileName), options, TokenizerFiles.WriteTokenizerConfig);
        }

        string dataPath = Path.Combine(directory, ExternalDataFileName);
        Onnx.ModelProto model;
        if (DecoderGraph.WeightBytes(options) > options.ExternalDataThreshold)
        {
            string dataTemp = dataPath + AtomicFile.TempSuffix;
            using (var data = new FileStream(dataTemp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                model = DecoderGraph.Build(options, new WeightStore(data, ExternalDataFileName));
            File.Move(dataTemp, dataPath, overwrite: true);
        }
        else
        {
            File.Delete(dataPath);
            model = DecoderGraph.Build(options, new WeightStore(null, ExternalDataFileName));
        }
        AtomicFile.Write(Path.Combine(directory, ModelFileName), model, static (s, m) => Google.Protobuf.MessageExtensions.WriteTo(m, s));

        AtomicFile.Write(config, options, GenAiConfigFile.Write);
    }
}
