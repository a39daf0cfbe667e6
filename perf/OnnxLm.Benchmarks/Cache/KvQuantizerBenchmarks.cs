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

    readonly KvQuantizer quantizer = new(GroupSize, SlabValues);
    float[] source = [];
    sbyte[] values = [];
    float[] scales = [];
    float[] restored = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        source = new float[Slabs * SlabValues];
        for (int i = 0; i < source.Length; i++) source[i] = (float)(random.NextDouble() * 4 - 2);
        values = new sbyte[source.Length];
        scales = new float[Slabs * SlabValues / GroupSize];
        restored = new float[source.Length];
        Quantize_block();
    }

    [Benchmark]
    public void Quantize_block()
    {
        for (int s = 0; s < Slabs; s++)
            quantizer.Quantize(source.AsSpan(s * SlabValues, SlabValues), values.AsSpan(s * SlabValues, SlabValues),
                scales.AsSpan(s * (SlabValues / GroupSize), SlabValues / GroupSize));
    }

    [Benchmark]
    public void Dequantize_block()
    {
        for (int s = 0; s < Slabs; s++)
            KvQuantizer.Dequantize(values.AsSpan(s * SlabValues, SlabValues), scales.AsSpan(s * (SlabValues / GroupSize), SlabValues / GroupSize),
                restored.AsSpan(s * SlabValues, SlabValues), GroupSize);
    }
}
