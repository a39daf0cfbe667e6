using OnnxLm.Builder;

namespace OnnxLm.Cli;

/// <summary><c>onnxlm make-model DIR</c>: writes a seeded random-weight llama-style GenAI model folder.</summary>
internal static class MakeModelCommand
{
    public const string Help = """
        onnxlm make-model DIR [options]  write a random-weight llama-style test model (GenAI format)

          --preset tiny|benchmark|benchmark-int4
                                        start from a preset (default tiny); benchmark-int4 is the benchmark
                                        model as CPU folders are built (int4 block 32, accuracy_level 4)
          --layers N --hidden N --heads N --kv-heads N --head-size N --intermediate N --vocab N --context N
          --int4                        int4 MatMulNBits weights (default fp32)
          --int4-block N                int4 block size, 16..256 (default 32, as cpu-int4-rtn-block-32-acc-level-4)
          --accuracy-level N            int4 MatMulNBits accuracy_level, 0..4 (default 4: int8 compute, as CPU exports)
          --seed N                      weight seed (default 1)
        """;

    public static int Run(string[] args)
    {
        if (args.Length < 2 || args[1] is "--help" or "-h")
        {
            if (args.Length >= 2) { Console.WriteLine(Help); return 0; }
            throw new UsageException("make-model needs a target directory (onnxlm make-model DIR)");
        }
        string dir = args[1];
        if (dir.StartsWith('-')) throw new UsageException("make-model needs a target directory before options");
        var o = ModelBuilderOptions.Tiny;
        var r = new ArgReader(args, 2);
        while (r.Next(out string flag, out string? v))
        {
            o = flag switch
            {
                "--preset" => r.Value(flag, v) switch
                {
                    "tiny" => ModelBuilderOptions.Tiny,
                    "benchmark" => ModelBuilderOptions.Benchmark,
                    "benchmark-int4" => ModelBuilderOptions.Benchmark with { Weights = WeightFormat.Int4 },
                    var p => throw new UsageException($"--preset must be tiny, benchmark or benchmark-int4 (got '{p}')"),
                },
                "--layers" => o with { NumLayers = r.Int(flag, v, 1, 512) },
                "--hidden" => o with { HiddenSize = r.Int(flag, v, 8, 65536) },
                "--heads" => o with { NumHeads = r.Int(flag, v, 1, 1024) },
                "--kv-heads" => o with { NumKvHeads = r.Int(flag, v, 1, 1024) },
                "--head-size" => o with { HeadSize = r.Int(flag, v, 2, 1024) },
                "--intermediate" => o with { IntermediateSize = r.Int(flag, v, 8, 1 << 20) },
                "--vocab" => o with { VocabSize = r.Int(flag, v, 260, 1 << 20) },
                "--context" => o with { ContextLength = r.Int(flag, v, 2, 1 << 20) },
                "--seed" => o with { Seed = (ulong)r.Int(flag, v, 0, int.MaxValue) },
                "--int4" => o with { Weights = WeightFormat.Int4 },
                "--int4-block" => o with { Int4BlockSize = r.Int(flag, v, 16, 256) },
                "--accuracy-level" => o with { Int4AccuracyLevel = r.Int(flag, v, 0, 4) },
                _ => throw new UsageException($"unknown option '{flag}' for make-model"),
            };
        }
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ModelBuilder.Build(dir, o);
            Console.WriteLine($"wrote {dir} in {sw.ElapsedMilliseconds} ms");
            return 0;
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
