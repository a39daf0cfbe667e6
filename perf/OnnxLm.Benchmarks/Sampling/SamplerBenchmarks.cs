// One Sample call per benchmark invocation, the way the engine thread calls it: a fresh copy of a realistic logits
// row (normal, std 3) for each call, because the sampler applies bias/penalties in place. The copy (memcpy of
// 128 KB / 600 KB) is part of every measurement, including the Copy baseline, so subtract it when reading results.
// Expected allocation: 0 B for every case.
using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Sampling;

namespace OnnxLm.Benchmarks.Sampling;

[MemoryDiagnoser]
public class SamplerBenchmarks
{
    private float[] logits = [];
    private float[] row = [];
    private Sampler sampler = null!;
    private SequenceSampler greedy = null!;
    private SequenceSampler topP = null!;
    private SequenceSampler topK = null!;
    private SequenceSampler penalties = null!;
    private SequenceSampler full = null!;

    [Params(32_000, 151_936)]
    public int Vocab { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1234);
        logits = new float[Vocab];
        for (int i = 0; i < Vocab; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            logits[i] = (float)(3.0 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        row = new float[Vocab];
        sampler = new Sampler(Vocab, engineSeed: 1);
        int[] prompt = new int[2000];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = random.Next(Vocab);
        greedy = Sequence(SamplingParams.Greedy, prompt);
        topP = Sequence(new SamplingParams { Temperature = 0.8f, TopP = 0.9f, Seed = 1 }, prompt);
        topK = Sequence(new SamplingParams { Temperature = 0.8f, TopK = 40, Seed = 1 }, prompt);
        full = Sequence(new SamplingParams { Temperature = 1f, Seed = 1 }, prompt);
        penalties = Sequence(new SamplingParams
        {
            Temperature = 0.8f,
            TopP = 0.9f,
            RepetitionPenalty = 1.1f,
            PresencePenalty = 0.5f,
            FrequencyPenalty = 0.5f,
            Seed = 1,
        }, prompt);
        for (int i = 0; i < 200; i++) penalties.Accept(random.Next(Vocab));
    }

    private SequenceSampler Sequence(SamplingParams p, int[] prompt)
    {
        SequenceSampler seq = sampler.CreateSequence();
        seq.Reset(p, prompt);
        return seq;
    }

    [Benchmark(Baseline = true)]
    public void Copy() => logits.CopyTo(row, 0);

    [Benchmark]
    public int Greedy() => SampleOne(greedy);

    [Benchmark]
    public int Temperature() => SampleOne(full);

    [Benchmark]
    public int TemperatureTopP() => SampleOne(topP);

    [Benchmark]
    public int TopK40() => SampleOne(topK);

    [Benchmark]
    public int PenaltiesTopP() => SampleOne(penalties);

    private int SampleOne(SequenceSampler seq)
    {
        logits.CopyTo(row, 0);
        return sampler.Sample(row, seq).TokenId;
    }
}
