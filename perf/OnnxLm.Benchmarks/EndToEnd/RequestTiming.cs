using System.Diagnostics;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Stopwatch timestamps of one generation: when it was submitted (or arrived), its first and last token.</summary>
public readonly record struct RequestTiming(long Arrived, long Submitted, long FirstToken, long LastToken, int Tokens)
{
    /// <summary>Tokens per second from the first token to the last (the decode rate; prefill excluded).</summary>
    public double DecodeTokensPerSecond => (Tokens - 1) / Seconds(FirstToken, LastToken);

    /// <summary>Time to first token from submission, in ms.</summary>
    public double TimeToFirstTokenMs => Seconds(Submitted, FirstToken) * 1000;

    /// <summary>Time to first token from arrival (a client that queued behind others counts its wait), in ms.</summary>
    public double TimeToFirstTokenFromArrivalMs => Seconds(Arrived, FirstToken) * 1000;

    public static double Seconds(long from, long to) => (double)(to - from) / Stopwatch.Frequency;
}
