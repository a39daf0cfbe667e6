namespace OnnxLm.Load.Stats;

/// <summary>Order statistics over a sample. Percentiles interpolate linearly between closest ranks (numpy's default),
/// so p50 of an even-sized sample is the mean of the two middle values.</summary>
public static class Percentiles
{
    /// <summary>The <paramref name="p"/>-th percentile (0..100) of an ascending-sorted sample; NaN when empty.</summary>
    public static double OfSorted(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        if (p <= 0) return sorted[0];
        if (p >= 100) return sorted[^1];
        double rank = p / 100 * (sorted.Length - 1);
        int lo = (int)rank;
        double frac = rank - lo;
        return lo + 1 < sorted.Length ? sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac : sorted[lo];
    }

    /// <summary>The median of an unsorted sample (copied, the input is left alone); NaN when empty.</summary>
    public static double Median(ReadOnlySpan<double> values)
    {
        var copy = values.ToArray();
        Array.Sort(copy);
        return OfSorted(copy, 50);
    }
}
