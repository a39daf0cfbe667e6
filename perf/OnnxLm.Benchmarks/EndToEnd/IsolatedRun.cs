using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>What one child process measured: the same quantities as <see cref="WeightsResult"/>, for one runtime.</summary>
public sealed class IsolatedSamples
{
    public List<double> Single { get; } = [];
    public List<double> SingleTtftMs { get; } = [];
    public SortedDictionary<int, double> Throughput { get; } = [];
    public SortedDictionary<int, double> TtftMs { get; } = [];
    public double Sequential { get; set; } = double.NaN;
    public double SequentialTtftMs { get; set; } = double.NaN;
    public double StaticBatch { get; set; } = double.NaN;
    public double StaticBatchTtftMs { get; set; } = double.NaN;
}

/// <summary>
/// Runs one runtime (the engine or GenAI's Generator) as the only ONNX Runtime session of a fresh child process, the way
/// each is deployed. Why: in one process, the session loaded first runs its decode steps 4–9 % slower than sessions
/// loaded after it, whichever runtime it is (the <c>blocks</c> section shows it: a second engine or a bare runner in the
/// same process is faster than the first engine, and loading GenAI first turns 0.96× into 1.06×). The cause is below us
/// (the memory the first session's weights land in); the effect is an order bias of the size of the difference being
/// measured. A child per runtime and repeat, in alternating order, removes the bias and keeps drift in machine load
/// spread evenly over both.
/// </summary>
public static class IsolatedRun
{
    public const string Mode = "engine-child";

    /// <summary>Spawns a child measuring <paramref name="runtime"/> (engine|genai) for <paramref name="what"/> (single|batch).</summary>
    public static IsolatedSamples Spawn(string runtime, string what, string modelDir, int threads, int runs)
    {
        var psi = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = false };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        psi.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(typeof(IsolatedRun).Assembly.Location);   // started as `dotnet OnnxLm.Benchmarks.dll`
        foreach (var a in new[] { Mode, runtime, what, modelDir, threads.ToString(CultureInfo.InvariantCulture), runs.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        using var child = Process.Start(psi) ?? throw new InvalidOperationException("could not start the child process");
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0) throw new InvalidOperationException($"child ({runtime} {what}) exited with {child.ExitCode}");
        return Parse(output);
    }

    /// <summary>The child: <c>engine-child engine|genai single|batch MODEL_DIR THREADS RUNS</c>; one JSON object on stdout.</summary>
    public static int Child(string[] args)
    {
        bool hugePages = !(args.Length == 6 && args[5] == "--no-huge-pages");
        if (args.Length is not (5 or 6) || args[0] is not ("engine" or "genai") || args[1] is not ("single" or "batch")
            || !int.TryParse(args[3], out int threads) || !int.TryParse(args[4], out int runs) || runs < 1)
        {
            Console.Error.WriteLine($"usage: {Mode} engine|genai single|batch MODEL_DIR THREADS RUNS [--no-huge-pages]");
            return 2;
        }
        string dir = args[2];
        var preset = Builder.ModelBuilderOptions.Benchmark;
        int vocabEnd = preset.EndOfTextTokenId;
        int[] single = EngineComparison.Prompt(1, ComparisonOptions.SinglePromptTokens, vocabEnd);
        var batch = new int[ComparisonOptions.BatchRequests][];
        for (int i = 0; i < batch.Length; i++) batch[i] = EngineComparison.Prompt(100 + i, ComparisonOptions.BatchPromptTokens, vocabEnd);
        var s = new IsolatedSamples();
        int outputTokens = ComparisonOptions.BatchRequests * ComparisonOptions.BatchNewTokens;
        if (args[0] == "engine")
        {
            using var engine = EngineComparison.StartEngine(dir, threads, hugePages);
            while (!engine.IsReady) Thread.Sleep(5);
            engine.HugePagesSettled.Wait();   // measure the steady state, after the post-readiness collapse

            // Warm-up as long as a measured run: the first run in a process is slower (JIT tiering of the engine loop;
            // the published server is AOT-compiled and has none), and GenAI gets the same.
            EngineClient.RunAsync(engine, single, ComparisonOptions.SingleNewTokens, 0).GetAwaiter().GetResult();
            if (args[1] == "batch") EngineClient.RunConcurrent(engine, batch, 16, 8);
            for (int r = 0; r < runs; r++)
            {
                if (args[1] == "single")
                {
                    var t = EngineClient.RunAsync(engine, single, ComparisonOptions.SingleNewTokens, 0).GetAwaiter().GetResult();
                    s.Single.Add(t.DecodeTokensPerSecond);
                    s.SingleTtftMs.Add(t.TimeToFirstTokenMs);
                    continue;
                }
                foreach (int c in ComparisonOptions.Concurrency)
                {
                    var (timings, seconds) = EngineClient.RunConcurrent(engine, batch, ComparisonOptions.BatchNewTokens, c);
                    s.Throughput[c] = outputTokens / seconds;
                    s.TtftMs[c] = Samples.MedianOf(timings.Select(x => x.TimeToFirstTokenFromArrivalMs).ToArray());
                }
            }
        }
        else
        {
            using var genai = new GenAiClient(dir, threads);
            genai.Run(single, ComparisonOptions.SingleNewTokens);
            if (args[1] == "batch") genai.RunStaticBatch(batch, 16);
            for (int r = 0; r < runs; r++)
            {
                if (args[1] == "single")
                {
                    var t = genai.Run(single, ComparisonOptions.SingleNewTokens);
                    s.Single.Add(t.DecodeTokensPerSecond);
                    s.SingleTtftMs.Add(t.TimeToFirstTokenMs);
                    continue;
                }
                var (seq, seqSeconds) = genai.RunSequential(batch, ComparisonOptions.BatchNewTokens);
                s.Sequential = outputTokens / seqSeconds;
                s.SequentialTtftMs = Samples.MedianOf(seq.Select(x => x.TimeToFirstTokenFromArrivalMs).ToArray());
                (s.StaticBatch, s.StaticBatchTtftMs) = genai.RunStaticBatch(batch, ComparisonOptions.BatchNewTokens);
            }
        }
        Console.Out.Write(Serialize(s));
        return 0;
    }

    static string Serialize(IsolatedSamples s)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            Array(w, "single", s.Single);
            Array(w, "singleTtftMs", s.SingleTtftMs);
            Map(w, "throughput", s.Throughput);
            Map(w, "ttftMs", s.TtftMs);
            w.WriteNumber("sequential", Finite(s.Sequential));
            w.WriteNumber("sequentialTtftMs", Finite(s.SequentialTtftMs));
            w.WriteNumber("staticBatch", Finite(s.StaticBatch));
            w.WriteNumber("staticBatchTtftMs", Finite(s.StaticBatchTtftMs));
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());

        static double Finite(double v) => double.IsFinite(v) ? v : -1;
        static void Array(Utf8JsonWriter w, string name, List<double> values)
        {
            w.WriteStartArray(name);
            foreach (var v in values) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        static void Map(Utf8JsonWriter w, string name, SortedDictionary<int, double> values)
        {
            w.WriteStartObject(name);
            foreach (var (k, v) in values) w.WriteNumber(k.ToString(CultureInfo.InvariantCulture), v);
            w.WriteEndObject();
        }
    }

    static IsolatedSamples Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var s = new IsolatedSamples();
        foreach (var v in root.GetProperty("single").EnumerateArray()) s.Single.Add(v.GetDouble());
        foreach (var v in root.GetProperty("singleTtftMs").EnumerateArray()) s.SingleTtftMs.Add(v.GetDouble());
        foreach (var p in root.GetProperty("throughput").EnumerateObject()) s.Throughput[int.Parse(p.Name, CultureInfo.InvariantCulture)] = p.Value.GetDouble();
        foreach (var p in root.GetProperty("ttftMs").EnumerateObject()) s.TtftMs[int.Parse(p.Name, CultureInfo.InvariantCulture)] = p.Value.GetDouble();
        s.Sequential = root.GetProperty("sequential").GetDouble();
        s.SequentialTtftMs = root.GetProperty("sequentialTtftMs").GetDouble();
        s.StaticBatch = root.GetProperty("staticBatch").GetDouble();
        s.StaticBatchTtftMs = root.GetProperty("staticBatchTtftMs").GetDouble();
        return s;
    }
}
