// Invariant: every query here is a vectorized pass over a span with a single "value >= threshold" predicate, and
// each result is monotone in the threshold (a count or a sum of non-negative values can only shrink as the
// threshold rises; float rounding is monotone too). That monotonicity is what lets the selections below binary-
// search a threshold instead of sorting: the sampler never orders more than the handful of top-logprobs.
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Sampling;

/// <summary>Threshold counting, masked sums, gathering and order-statistic searches over float spans.</summary>
internal static class ThresholdScan
{
    /// <summary>How many values are &gt;= <paramref name="threshold"/>.</summary>
    public static int CountAtLeast(ReadOnlySpan<float> values, float threshold)
    {
        int count = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            ReadOnlySpan<Vector<float>> vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            var t = new Vector<float>(threshold);
            Vector<int> acc = Vector<int>.Zero;
            foreach (Vector<float> v in vectors)
                acc -= Vector.GreaterThanOrEqual(v, t); // a true lane is -1
            count = Vector.Sum(acc);
            i = vectors.Length * Vector<float>.Count;
        }
        for (; i < values.Length; i++)
            if (values[i] >= threshold) count++;
        return count;
    }

    /// <summary>Sum of the values &gt;= <paramref name="threshold"/>; values are expected to be non-negative.</summary>
    public static float SumAtLeast(ReadOnlySpan<float> values, float threshold)
    {
        float sum = 0f;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            ReadOnlySpan<Vector<float>> vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            var t = new Vector<float>(threshold);
            // Four accumulators: a single one makes the loop wait on add latency instead of memory.
            Vector<float> acc0 = Vector<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            int v = 0;
            for (; v <= vectors.Length - 4; v += 4)
            {
                acc0 += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(vectors[v], t), vectors[v], Vector<float>.Zero);
                acc1 += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(vectors[v + 1], t), vectors[v + 1], Vector<float>.Zero);
                acc2 += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(vectors[v + 2], t), vectors[v + 2], Vector<float>.Zero);
                acc3 += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(vectors[v + 3], t), vectors[v + 3], Vector<float>.Zero);
            }
            for (; v < vectors.Length; v++)
                acc0 += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(vectors[v], t), vectors[v], Vector<float>.Zero);
            sum = Vector.Sum((acc0 + acc1) + (acc2 + acc3));
            i = vectors.Length * Vector<float>.Count;
        }
        for (; i < values.Length; i++)
            if (values[i] >= threshold) sum += values[i];
        return sum;
    }

    /// <summary>Copies every value &gt;= <paramref name="threshold"/> and its index, in increasing index order.</summary>
    public static int GatherAtLeast(ReadOnlySpan<float> values, float threshold, Span<float> outValues, Span<int> outIds)
    {
        int n = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            ReadOnlySpan<Vector<float>> vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            var t = new Vector<float>(threshold);
            for (int vi = 0; vi < vectors.Length; vi++)
            {
                // Candidates are sparse at the thresholds the sampler uses, so most vectors are skipped whole.
                if (!Vector.GreaterThanOrEqualAny(vectors[vi], t)) continue;
                int start = vi * Vector<float>.Count;
                if (n + Vector<float>.Count <= outValues.Length && n + Vector<float>.Count <= outIds.Length)
                {
                    // Branch-free: always write, advance only on a hit. A hit vector often mixes hits and
                    // misses, which made the branchy loop mispredict on dense rows (~10 ns per candidate).
                    for (int j = start; j < start + Vector<float>.Count; j++)
                    {
                        float f = values[j];
                        outValues[n] = f;
                        outIds[n] = j;
                        n += f >= threshold ? 1 : 0;
                    }
                    continue;
                }
                for (int j = start; j < start + Vector<float>.Count; j++)
                {
                    float f = values[j];
                    if (f >= threshold)
                    {
                        outValues[n] = f;
                        outIds[n] = j;
                        n++;
                    }
                }
            }
            i = vectors.Length * Vector<float>.Count;
        }
        for (; i < values.Length; i++)
        {
            float f = values[i];
            if (f >= threshold)
            {
                outValues[n] = f;
                outIds[n] = i;
                n++;
            }
        }
        return n;
    }

    /// <summary>Index of the first element equal to <paramref name="value"/>, or -1.</summary>
    public static int IndexOfFirst(ReadOnlySpan<float> values, float value)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            ReadOnlySpan<Vector<float>> vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
            var target = new Vector<float>(value);
            for (int v = 0; v < vectors.Length; v++)
            {
                if (!Vector.EqualsAny(vectors[v], target)) continue;
                for (int j = v * Vector<float>.Count; ; j++)
                    if (values[j] == value) return j;
            }
            i = vectors.Length * Vector<float>.Count;
        }
        for (; i < values.Length; i++)
            if (values[i] == value) return i;
        return -1;
    }

    /// <summary>The k-th largest value (1-based), found by binary search over the float ordering with
    /// <see cref="CountAtLeast"/>: at most 32 vectorized passes, no reordering, no scratch.</summary>
    public static float KthLargest(ReadOnlySpan<float> values, int k)
    {
        // Largest key whose float has at least k values >= it; that float is then present in the span.
        uint lo = ToKey(TensorPrimitives.Min(values)); // count(>= min) = all, so lo satisfies the predicate
        uint hi = ToKey(TensorPrimitives.Max(values));
        while (lo < hi)
        {
            uint mid = lo + (hi - lo + 1) / 2;
            if (CountAtLeast(values, FromKey(mid)) >= k) lo = mid;
            else hi = mid - 1;
        }
        return FromKey(lo);
    }

    /// <summary>The largest threshold τ such that the values &gt;= τ sum to at least <paramref name="target"/>.
    /// Values must be non-negative and <paramref name="target"/> at most their sum.</summary>
    public static float ThresholdForMass(ReadOnlySpan<float> values, float target)
    {
        // Non-negative floats order like their bit patterns, so the search runs over raw bits.
        uint lo = 0;
        uint hi = BitConverter.SingleToUInt32Bits(TensorPrimitives.Max(values));
        while (lo < hi)
        {
            uint mid = lo + (hi - lo + 1) / 2;
            if (SumAtLeast(values, BitConverter.UInt32BitsToSingle(mid)) >= target) lo = mid;
            else hi = mid - 1;
        }
        return BitConverter.UInt32BitsToSingle(lo);
    }

    // Maps floats to unsigned keys with the same order (negatives reversed below positives). -0 sorts just below
    // +0, which the >= predicate treats as equal; the search still converges on a value present in the span.
    private static uint ToKey(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        return (u & 0x8000_0000u) != 0 ? ~u : u | 0x8000_0000u;
    }

    private static float FromKey(uint key) =>
        BitConverter.UInt32BitsToSingle((key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key);
}
