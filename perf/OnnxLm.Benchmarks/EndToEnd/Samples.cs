namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Repeated measurements of one quantity; reported as the median with min and max to show the noise.</summary>
public sealed class Samples
{
    readonly List<double> values = [];

    public void Add(double value) => values.Add(value);
    public int Count => values.Count;
    public IReadOnlyList<double> Values => values;

    public double Median => MedianOf(values);
    public double Min => values.Count == 0 ? double.NaN : values.Min();
    public double Max => values.Count == 0 ? double.NaN : values.Max();

    public static double MedianOf(IReadOnlyList<double> data)
    {
        if (data.Count == 0) return double.NaN;
        var sorted = data.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
