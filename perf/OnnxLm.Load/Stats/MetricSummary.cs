namespace OnnxLm.Load.Stats;

/// <summary>Mean and percentiles of one latency metric over the successful requests (NaN values are left out).</summary>
public readonly record struct MetricSummary(int Count, double Mean, double P50, double P90, double P99, double Max)
{
    public static MetricSummary From(List<double> values)
    {
        var sorted = new double[values.Count];
        int n = 0;
        double sum = 0;
        foreach (double v in values)
        {
            if (double.IsNaN(v)) continue;
            sorted[n++] = v;
            sum += v;
        }
        if (n == 0) return new MetricSummary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        var span = sorted.AsSpan(0, n);
        span.Sort();
        return new MetricSummary(n, sum / n, Percentiles.OfSorted(span, 50), Percentiles.OfSorted(span, 90),
            Percentiles.OfSorted(span, 99), span[^1]);
    }
}
