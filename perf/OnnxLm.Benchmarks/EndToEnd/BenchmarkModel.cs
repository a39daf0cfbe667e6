using System.Globalization;
using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>The Benchmark preset model in the model cache, built on first use (never committed).</summary>
public static class BenchmarkModel
{
    public static readonly string DefaultCache =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "onnxlm", "bench-models");

    /// <summary>The model folder for <paramref name="weights"/>, built first when missing; the seconds building took (0 when cached).</summary>
    public static (string Dir, ModelBuilderOptions Preset, double BuildSeconds) Ensure(string cache, WeightFormat weights, Action<string>? log = null)
    {
        var preset = ModelBuilderOptions.Benchmark with { Weights = weights };
        string dir = Path.Combine(cache, $"benchmark-{(weights == WeightFormat.Int4 ? "int4" : "fp32")}-v{ModelBuilder.FormatVersion}");
        if (File.Exists(Path.Combine(dir, ModelBuilder.GenAiConfigFileName))) return (dir, preset, 0);
        log?.Invoke($"building {dir}");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        ModelBuilder.Build(dir, preset);
        return (dir, preset, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
    }
}

/// <summary>
/// Options the <c>prefix</c> and <c>ssd</c> subcommands share (<c>--weights fp32|int4</c>, <c>--repeats N</c>,
/// <c>--model-cache DIR</c>, <c>--out FILE</c>), plus each one's own through <c>extra</c>.
/// </summary>
public sealed class ModelBenchArgs
{
    public WeightFormat Weights { get; private set; } = WeightFormat.Fp32;
    public string WeightsName => Weights == WeightFormat.Int4 ? "int4" : "fp32";
    public int Repeats { get; private set; } = 3;
    public string ModelCache { get; private set; } = BenchmarkModel.DefaultCache;
    public string Out { get; private set; } = "";

    /// <summary>Null (and the usage on stderr) for a bad argument. <paramref name="extra"/> gets an option this parser does
    /// not know and a way to take its value; it returns false when the option is unknown or its value bad.</summary>
    public static ModelBenchArgs? Parse(string[] args, string defaultOut, string usage, Func<string, Func<string?>, bool>? extra = null)
    {
        var o = new ModelBenchArgs { Out = defaultOut };
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            bool ok = args[i] switch
            {
                "--weights" => Next() switch
                {
                    "fp32" => Set(() => o.Weights = WeightFormat.Fp32),
                    "int4" => Set(() => o.Weights = WeightFormat.Int4),
                    _ => false,
                },
                "--repeats" => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 && Set(() => o.Repeats = n),
                "--model-cache" => Next() is { Length: > 0 } dir && Set(() => o.ModelCache = dir),
                "--out" => Next() is { Length: > 0 } file && Set(() => o.Out = file),
                _ => extra?.Invoke(args[i], Next) ?? false,
            };
            if (!ok)
            {
                Console.Error.WriteLine($"bad argument '{args[i]}'; usage: {usage}");
                return null;
            }
        }
        return o;

        static bool Set(Action apply)
        {
            apply();
            return true;
        }
    }
}
