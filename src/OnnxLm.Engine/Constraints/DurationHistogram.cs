using System.Diagnostics;

namespace OnnxLm.Engine.Constraints;

/// <summary>
/// Durations in fixed buckets (upper bounds in seconds, then +Inf) for the constrained decoder's metrics: schema compile
/// time and mask time. Observing is a bucket scan plus three Interlocked adds: no allocation, no lock, any thread.
/// Counts are per bucket (not cumulative); a reader may see a count one observation ahead of the sum.
/// </summary>
public sealed class DurationHistogram
{
    readonly double[] upperBounds;
    readonly long[] buckets;
    long count;
    long sumTicks;

    public DurationHistogram(double[] upperBoundsSeconds)
    {
        for (int i = 1; i < upperBoundsSeconds.Length; i++)
            if (!(upperBoundsSeconds[i] > upperBoundsSeconds[i - 1])) throw new ArgumentException("bucket bounds must increase", nameof(upperBoundsSeconds));
        upperBounds = upperBoundsSeconds;
        buckets = new long[upperBoundsSeconds.Length + 1];
    }

    /// <summary>The buckets' upper bounds in seconds (the last bucket, +Inf, is implied).</summary>
    public ReadOnlySpan<double> UpperBounds => upperBounds;

    public long Count => Interlocked.Read(ref count);

    /// <summary>The sum of every observation, in seconds.</summary>
    public double SumSeconds => Interlocked.Read(ref sumTicks) / (double)Stopwatch.Frequency;

    /// <summary>Observations in bucket <paramref name="index"/> alone (index <see cref="UpperBounds"/>.Length is +Inf).</summary>
    public long Bucket(int index) => Interlocked.Read(ref buckets[index]);

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
}
