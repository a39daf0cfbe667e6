using OnnxLm.Engine.Sampling;

namespace OnnxLm.Tests.Sampling;

// Lengths below, at and above the vector width force both the SIMD body and the scalar tail through each query.
public class ThresholdScanTests
{
    private static readonly int[] Lengths = [1, 3, 7, 8, 9, 16, 17, 33, 100, 1031, 4096];

    private static float[] Values(int length, int seed, bool withTies)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = withTies ? random.Next(-5, 6) : (float)(random.NextDouble() * 20 - 10);
        return values;
    }

    [Test]
    public async Task Count_and_gather_match_a_scalar_filter()
    {
        foreach (int length in Lengths)
        {
            float[] values = Values(length, length, withTies: true);
            float threshold = 1f;
            int expected = values.Count(v => v >= threshold);
            await Assert.That(ThresholdScan.CountAtLeast(values, threshold)).IsEqualTo(expected);

            var outValues = new float[length];
            var outIds = new int[length];
            int n = ThresholdScan.GatherAtLeast(values, threshold, outValues, outIds);
            int[] expectedIds = Enumerable.Range(0, length).Where(i => values[i] >= threshold).ToArray();
            await Assert.That(outIds.AsSpan(0, n).ToArray()).IsEquivalentTo(expectedIds);
            for (int i = 0; i < n; i++)
                await Assert.That(outValues[i]).IsEqualTo(values[outIds[i]]);
        }
    }

    [Test]
    public async Task Kth_largest_matches_sorting()
    {
        foreach (bool ties in new[] { false, true })
        {
            foreach (int length in Lengths)
            {
                float[] values = Values(length, length * 7 + 1, ties);
                float[] sorted = values.OrderByDescending(v => v).ToArray();
                foreach (int k in new[] { 1, 2, length / 2 + 1, length })
                {
                    if (k < 1 || k > length) continue;
                    await Assert.That(ThresholdScan.KthLargest(values, k)).IsEqualTo(sorted[k - 1]);
                }
            }
        }
    }

    [Test]
    public async Task Threshold_for_mass_is_the_largest_cut_reaching_the_target()
    {
        foreach (int length in Lengths)
        {
            var random = new Random(length);
            float[] values = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble()).ToArray();
            float total = ThresholdScan.SumAtLeast(values, 0f);
            foreach (float fraction in new[] { 0.1f, 0.5f, 0.9f, 1f })
            {
                float target = fraction * total;
                float tau = ThresholdScan.ThresholdForMass(values, target);
                await Assert.That(ThresholdScan.SumAtLeast(values, tau)).IsGreaterThanOrEqualTo(target);
                // The next larger value present in the span must fall short, or tau was not the largest cut.
                float[] larger = values.Where(v => v > tau).ToArray();
                if (larger.Length > 0)
                    await Assert.That(ThresholdScan.SumAtLeast(values, larger.Min())).IsLessThan(target);
                await Assert.That(values).Contains(tau);
            }
        }
    }

    [Test]
    public async Task Index_of_first_finds_the_lowest_matching_index()
    {
        foreach (int length in Lengths)
        {
            float[] values = Values(length, length + 3, withTies: true);
            float max = values.Max();
            await Assert.That(ThresholdScan.IndexOfFirst(values, max)).IsEqualTo(Array.IndexOf(values, max));
            await Assert.That(ThresholdScan.IndexOfFirst(values, 99f)).IsEqualTo(-1);
        }
    }
}
