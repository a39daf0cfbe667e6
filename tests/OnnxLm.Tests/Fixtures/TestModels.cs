using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using OnnxLm.Builder;

namespace OnnxLm.Tests.Fixtures;

/// <summary>
/// Shared generated models under <c>{temp}/onnxlm-test-models/{name}-{hash}</c>. The hash covers the options and
/// the engine assembly's identity, so a changed builder never reuses a stale folder. A folder is built under a
/// temporary name and renamed into place, so any folder found under its final name is complete; concurrent tests
/// (and concurrent test processes) share one build.
/// </summary>
public static class TestModels
{
    private static readonly ConcurrentDictionary<ModelBuilderOptions, Lazy<string>> Models = new();

    public static string Root { get; } = Path.Combine(Path.GetTempPath(), "onnxlm-test-models");

    /// <summary>Tiny preset, fp32 weights, weights inline in model.onnx.</summary>
    public static string TinyFp32 => Get(ModelBuilderOptions.Tiny);

    /// <summary>Tiny preset, int4 MatMulNBits weights.</summary>
    public static string TinyInt4 => Get(ModelBuilderOptions.Tiny with { Weights = WeightFormat.Int4 });

    /// <summary>The folder of a model built with <paramref name="options"/>, building it on first use.</summary>
    public static string Get(ModelBuilderOptions options) =>
        Models.GetOrAdd(options, o => new Lazy<string>(() => BuildOrReuse(o), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private static string BuildOrReuse(ModelBuilderOptions options)
    {
        string name = $"{(options.Weights == WeightFormat.Int4 ? "int4" : "fp32")}-v{options.VocabSize}-h{options.HiddenSize}-l{options.NumLayers}";
        string directory = Path.Combine(Root, $"{name}-{Hash(options)}");
        if (File.Exists(Path.Combine(directory, ModelBuilder.GenAiConfigFileName)))
            return directory;

        string temp = $"{directory}.building-{Environment.ProcessId}-{Guid.NewGuid():N}";
        ModelBuilder.Build(temp, options);
        try
        {
            Directory.Move(temp, directory);
        }
        catch (IOException) when (File.Exists(Path.Combine(directory, ModelBuilder.GenAiConfigFileName)))
        {
            Directory.Delete(temp, recursive: true); // another process won the race with identical bytes
        }
        return directory;
    }

    private static string Hash(ModelBuilderOptions options)
    {
        string identity = $"{options}|format {ModelBuilder.FormatVersion}|{typeof(ModelBuilder).Assembly.ManifestModule.ModuleVersionId}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)).AsSpan(0, 8));
    }
}
