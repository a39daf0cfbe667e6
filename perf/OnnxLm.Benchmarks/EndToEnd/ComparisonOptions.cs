using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Options of the <c>engine</c> subcommand; the defaults are the documented benchmark.</summary>
public sealed class ComparisonOptions
{
    public string ModelCache { get; private set; } = BenchmarkModel.DefaultCache;
    public List<WeightFormat> Weights { get; } = [];
    public int Repeats { get; private set; } = 3;
    public string Out { get; private set; } = "engine-results.json";
    /// <summary>ORT intra-op threads for both runtimes.</summary>
    public int Threads { get; private set; } = 2;
    /// <summary>Sections to run: single, batch, alloc, profile.</summary>
    /// <summary>process (default): each runtime alone in a child process per repeat; shared: both in this process,
    /// interleaved (biased: the session loaded first decodes slower, see <see cref="IsolatedRun"/>).</summary>
    public string Isolation { get; private set; } = "process";
    public HashSet<string> Sections { get; } = new(StringComparer.Ordinal) { "single", "batch", "alloc", "profile", "batchprofile" };

    public const int SinglePromptTokens = 32;
    public const int SingleNewTokens = 128;
    public const int BatchPromptTokens = 256;
    public const int BatchNewTokens = 128;
    public const int BatchRequests = 8;
    public const int MaxBatchSize = 8;
    public static readonly int[] Concurrency = [1, 4, 8];

    public static string Usage =>
        "usage: engine [--model-cache DIR] [--weights fp32|int4|both] [--repeats N] [--out results.json] [--threads N] [--isolation process|shared] [--sections single,batch,alloc,profile,batchprofile,blocks,trace (blocks and trace are opt-in)]";

    /// <summary>Parses the arguments; null (and a message on stderr) when they are invalid.</summary>
    public static ComparisonOptions? Parse(string[] args)
    {
        var o = new ComparisonOptions();
        string weights = "both";
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--model-cache" when Next() is { } v: o.ModelCache = v; break;
                case "--weights" when Next() is { } v: weights = v; break;
                case "--repeats" when int.TryParse(Next(), out int n) && n > 0: o.Repeats = n; break;
                case "--out" when Next() is { } v: o.Out = v; break;
                case "--isolation" when Next() is "process" or "shared": o.Isolation = args[i]; break;
                case "--threads" when int.TryParse(Next(), out int t) && t > 0: o.Threads = t; break;
                case "--sections" when Next() is { } v:
                    o.Sections.Clear();
                    foreach (var s in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) o.Sections.Add(s);
                    break;
                default:
                    Console.Error.WriteLine($"bad argument '{args[i]}'\n{Usage}");
                    return null;
            }
        }
        switch (weights)
        {
            case "fp32": o.Weights.Add(WeightFormat.Fp32); break;
            case "int4": o.Weights.Add(WeightFormat.Int4); break;
            case "both": o.Weights.Add(WeightFormat.Fp32); o.Weights.Add(WeightFormat.Int4); break;
            default:
                Console.Error.WriteLine($"--weights must be fp32, int4 or both\n{Usage}");
                return null;
        }
        return o;
    }
}
