using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Cache;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// int8 KV block storage: quantizing and dequantizing one whole cache block of the benchmark model's shape (96 slabs of
/// 16 positions × 64 values, a scale per 64 values), on random normal data. Expected allocation: 0 B (the quantizer's
/// scratch is allocated once).
/// </summary>
[MemoryDiagnoser]
public class KvQuantizerBenchmarks
{
    const int Slabs = 12 * 2 * 4;
    const int SlabValues = 16 * 64;
    const int GroupSize = 64;

    readonly KvQuantizer _quantizer = new(GroupSize, SlabValues);
    float[] _source = [];
    sbyte[] _values = [];
    float[] _scales = [];
    float[] _restored = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        _source = new float[Slabs * SlabValues];
        for (int i = 0; i < _source.Length; i++) _source[i] = (float)(random.NextDouble() * 4 - 2);
        _values = new sbyte[_source.Length];
        _scales = new float[Slabs * SlabValues / GroupSize];
        _restored = new float[_source.Length];
        Quantize_block();
    }

    [Benchmark]
    public void Quantize_block()
    {
        for (int s = 0; s < Slabs; s++)
            _quantizer.Quantize(_source.AsSpan(s * SlabValues, SlabValues), _values.AsSpan(s * SlabValues, SlabValues),
                _scales.AsSpan(s * (SlabValues / GroupSize), SlabValues / GroupSize));
    }

    [Benchmark]
    public void Dequantize_block()
    {
        for (int s = 0; s < Slabs; s++)
            KvQuantizer.Dequantize(_values.AsSpan(s * SlabValues, SlabValues), _scales.AsSpan(s * (SlabValues / GroupSize), SlabValues / GroupSize),
                _restored.AsSpan(s * SlabValues, SlabValues), GroupSize);
    }
}
