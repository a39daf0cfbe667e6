using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Cache;

/// <summary>
/// Symmetric int8 quantization of KV slabs: each group of G consecutive values gets scale = max|x| / 127 and
/// q = round(x / scale), so the error per value is at most scale / 2. Vectorized with TensorPrimitives; the scratch
/// buffer is owned by the (single) engine thread, so nothing allocates per block.
/// </summary>
public sealed class KvQuantizer(int groupSize, int slabValues)
{
    readonly float[] scratch = new float[slabValues];

    public int GroupSize { get; } = groupSize;

    /// <summary>Quantizes <paramref name="source"/> into <paramref name="values"/> and <paramref name="scales"/>.</summary>
    public void Quantize(ReadOnlySpan<float> source, Span<sbyte> values, Span<float> scales)
    {
        var tmp = scratch.AsSpan(0, source.Length);
        for (int g = 0, start = 0; start < source.Length; g++, start += GroupSize)
        {
            int n = Math.Min(GroupSize, source.Length - start);
            var group = source.Slice(start, n);
            // MaxMagnitude returns the signed value of largest magnitude.
            float max = MathF.Abs(TensorPrimitives.MaxMagnitude(group));
            float scale = max > 0 && float.IsFinite(max) ? max / 127f : 0f;
            scales[g] = scale;
            var t = tmp.Slice(start, n);
            if (scale == 0f) t.Clear();
            else
            {
                TensorPrimitives.Multiply(group, 1f / scale, t);
                TensorPrimitives.Round(t, t);
                TensorPrimitives.Clamp(t, -127f, 127f, t);
            }
        }
        TensorPrimitives.ConvertTruncating<float, sbyte>(tmp, values);
    }

    /// <summary>Restores floats from <paramref name="values"/> and <paramref name="scales"/>.</summary>
    public static void Dequantize(ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales, Span<float> destination, int groupSize)
    {
        TensorPrimitives.ConvertTruncating<sbyte, float>(values, destination);
        for (int g = 0, start = 0; start < values.Length; g++, start += groupSize)
        {
            int n = Math.Min(groupSize, values.Length - start);
            var d = destination.Slice(start, n);
            TensorPrimitives.Multiply(d, scales[g], d);
        }
    }

    internal static Span<sbyte> AsSBytes(Span<byte> bytes) => MemoryMarshal.Cast<byte, sbyte>(bytes);
}
