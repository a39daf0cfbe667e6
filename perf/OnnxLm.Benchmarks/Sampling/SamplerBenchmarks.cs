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
    private float[] _logits = [];
    private float[] _row = [];
    private Sampler _sampler = null!;
    private SequenceSampler _greedy = null!;
    private SequenceSampler _topP = null!;
    private SequenceSampler _topK = null!;
    private SequenceSampler _penalties = null!;
    private SequenceSampler _full = null!;

    [Params(32_000, 151_936)]
    public int Vocab { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1234);
        _logits = new float[Vocab];
        for (int i = 0; i < Vocab; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            _logits[i] = (float)(3.0 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        _row = new float[Vocab];
        _sampler = new Sampler(Vocab, engineSeed: 1);
        int[] prompt = new int[2000];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = random.Next(Vocab);
        _greedy = Sequence(SamplingParams.Greedy, prompt);
        _topP = Sequence(new SamplingParams { Temperature = 0.8f, TopP = 0.9f, Seed = 1 }, prompt);
        _topK = Sequence(new SamplingParams { Temperature = 0.8f, TopK = 40, Seed = 1 }, prompt);
        _full = Sequence(new SamplingParams { Temperature = 1f, Seed = 1 }, prompt);
        _penalties = Sequence(new SamplingParams
        {
            Temperature = 0.8f, TopP = 0.9f, RepetitionPenalty = 1.1f, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f,
            Seed = 1,
        }, prompt);
        for (int i = 0; i < 200; i++) _penalties.Accept(random.Next(Vocab));
    }

    private SequenceSampler Sequence(SamplingParams p, int[] prompt)
    {
        SequenceSampler seq = _sampler.CreateSequence();
        seq.Reset(p, prompt);
        return seq;
    }

    [Benchmark(Baseline = true)]
    public void Copy() => _logits.CopyTo(_row, 0);

    [Benchmark]
    public int Greedy() => SampleOne(_greedy);

    [Benchmark]
    public int Temperature() => SampleOne(_full);

    [Benchmark]
    public int TemperatureTopP() => SampleOne(_topP);

    [Benchmark]
    public int TopK40() => SampleOne(_topK);

    [Benchmark]
    public int PenaltiesTopP() => SampleOne(_penalties);

    private int SampleOne(SequenceSampler seq)
    {
        _logits.CopyTo(_row, 0);
        return _sampler.Sample(_row, seq).TokenId;
    }
}
