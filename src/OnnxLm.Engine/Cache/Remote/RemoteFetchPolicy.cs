namespace OnnxLm.Engine.Cache.Remote;

/// <summary>
/// Decides whether fetching blocks beats recomputing them: fetch when <c>bytes ÷ bandwidth + round trip</c> is less than
/// <c>tokens ÷ prefill rate</c>, from measurements, not settings: the round trip and bandwidth of this process's own
/// Redis replies and the prefill rate of the engine's own runs (moving averages). Invariant: before the first
/// measurement of either side the answer is "fetch" (one fetch measures the link; a tier that never fetches never
/// learns). Thread-safe: samples arrive from the pool and the engine thread; a torn read of a double is not possible on
/// 64-bit and a lost sample only slows the averages.
/// </summary>
public sealed class RemoteFetchPolicy
{
    const double Weight = 0.2;
    double roundTripSeconds = double.NaN, bytesPerSecond = double.NaN, prefillTokensPerSecond = double.NaN;

    /// <summary>Always fetch, whatever the measurements say (tests with a model so small that recomputing always wins).</summary>
    public bool AlwaysFetch { get; init; }

    public double RoundTripSeconds => Volatile.Read(ref roundTripSeconds);
    public double BytesPerSecond => Volatile.Read(ref bytesPerSecond);
    public double PrefillTokensPerSecond => Volatile.Read(ref prefillTokensPerSecond);

    /// <summary>A reply of <paramref name="bytes"/> took <paramref name="seconds"/> from send to last byte.</summary>
    public void ObserveReply(long bytes, double seconds)
    {
        if (seconds <= 0) return;
        double rtt = RoundTripSeconds;
        // Small replies (a PING, a miss) measure the round trip; large ones the bandwidth beyond it.
        if (bytes < 4096 || double.IsNaN(rtt))
        {
            Update(ref roundTripSeconds, double.IsNaN(rtt) ? seconds : Math.Min(seconds, rtt * 4));
            if (bytes < 4096) return;
            rtt = RoundTripSeconds;
        }
        double transfer = Math.Max(seconds - rtt, seconds / 10);
        Update(ref bytesPerSecond, bytes / transfer);
    }

    /// <summary>The engine prefilled <paramref name="tokens"/> in <paramref name="seconds"/>.</summary>
    public void ObservePrefill(int tokens, double seconds)
    {
        if (tokens <= 0 || seconds <= 0) return;
        Update(ref prefillTokensPerSecond, tokens / seconds);
    }

    /// <summary>Whether to fetch <paramref name="blocks"/> values of <paramref name="valueBytes"/> each, worth
    /// <paramref name="tokensPerBlock"/> tokens of prefill each.</summary>
    public bool ShouldFetch(int blocks, long valueBytes, int tokensPerBlock)
    {
        if (AlwaysFetch) return true;
        double rtt = RoundTripSeconds, bw = BytesPerSecond, rate = PrefillTokensPerSecond;
        if (double.IsNaN(rtt) || double.IsNaN(bw) || double.IsNaN(rate)) return true;
        return FetchSeconds(blocks, valueBytes, rtt, bw) < RecomputeSeconds(blocks, tokensPerBlock, rate);
    }

    public static double FetchSeconds(int blocks, long valueBytes, double roundTrip, double bytesPerSecond) =>
        (double)blocks * valueBytes / bytesPerSecond + roundTrip;

    public static double RecomputeSeconds(int blocks, int tokensPerBlock, double tokensPerSecond) =>
        (double)blocks * tokensPerBlock / tokensPerSecond;

    static void Update(ref double average, double sample)
    {
        double old = Volatile.Read(ref average);
        Volatile.Write(ref average, double.IsNaN(old) ? sample : old + Weight * (sample - old));
    }
}
