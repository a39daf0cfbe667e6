using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OnnxLm.Http;

/// <summary>
/// A Prometheus histogram of durations with fixed bucket bounds. Observing is a bucket scan plus three Interlocked adds:
/// no allocation, no lock, safe from any thread. Counts are stored per bucket (not cumulative) and summed when rendered,
/// so a scrape may see a count one observation ahead of the sum; Prometheus tolerates that skew.
/// </summary>
internal sealed class LatencyHistogram(string name, string help, double[] upperBounds)
{
    readonly long[] buckets = new long[upperBounds.Length + 1];   // the last one is +Inf
    long count;
    long sumTicks;

    public string Name { get; } = name;
    public long Count => Interlocked.Read(ref count);

    /// <summary>Records a duration measured with <see cref="Stopwatch.GetTimestamp"/>.</summary>
    public void Observe(long stopwatchTicks)
    {
        if (stopwatchTicks < 0) stopwatchTicks = 0;
        double seconds = stopwatchTicks / (double)Stopwatch.Frequency;
        int i = 0;
        while (i < upperBounds.Length && seconds > upperBounds[i]) i++;
        Interlocked.Increment(ref buckets[i]);
        Interlocked.Add(ref sumTicks, stopwatchTicks);
        Interlocked.Increment(ref count);
    }

    public void Render(StringBuilder text, string labels)
    {
        var c = CultureInfo.InvariantCulture;
        text.Append("# HELP ").Append(Name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(Name).Append(" histogram\n");
        long cumulative = 0;
        for (int i = 0; i <= upperBounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref buckets[i]);
            string le = i < upperBounds.Length ? upperBounds[i].ToString("R", c) : "+Inf";
            text.Append(Name).Append("_bucket{").Append(labels).Append(",le=\"").Append(le).Append("\"} ")
                .Append(cumulative.ToString(c)).Append('\n');
        }
        double sum = Interlocked.Read(ref sumTicks) / (double)Stopwatch.Frequency;
        text.Append(Name).Append("_sum{").Append(labels).Append("} ").Append(sum.ToString("R", c)).Append('\n');
        text.Append(Name).Append("_count{").Append(labels).Append("} ").Append(cumulative.ToString(c)).Append('\n');
    }
}
