using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// A model with the benchmark preset's KV shape (12 layers, 4 KV heads of 64, context 2,048), so a cache block has the
/// real size (393 KB fp32), but small weights (hidden 256, vocab 400: ~22 MB, built in about a second), so the cache
/// micro-benchmarks fit in the CI smoke run. Built once into the benchmark model cache and reused.
/// </summary>
public static class KvShapeModel
{
    public static readonly ModelBuilderOptions Options = new()
    {
        VocabSize = 400,
        HiddenSize = 256,
        NumLayers = 12,
        NumHeads = 4,
        NumKvHeads = 4,
        HeadSize = 64,
        IntermediateSize = 256,
        ContextLength = 2048,
    };

    public static string Directory()
    {
        string root = Environment.GetEnvironmentVariable("ONNXLM_BENCH_MODELS")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "onnxlm", "bench-models");
        string dir = Path.Combine(root, $"kvshape-v{ModelBuilder.FormatVersion}");
        if (!File.Exists(Path.Combine(dir, ModelBuilder.GenAiConfigFileName))) ModelBuilder.Build(dir, Options);
        return dir;
    }
}
