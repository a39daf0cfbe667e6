namespace OnnxLm.Load.Stats;

/// <summary>
/// The aggregate of one run. Throughputs divide by <see cref="DurationS"/>, the wall time from the first request's
/// start to the last request's end. Goodput counts successful requests that met every given SLO (TTFT and/or TPOT;
/// a request with one output token has no TPOT and meets the TPOT target).
/// </summary>
public sealed class RunSummary
{
    public required string Label { get; init; }
    public required string Arrival { get; init; }
    public int Requests { get; init; }
    public int Succeeded { get; init; }
    public int Failed { get; init; }
    public string? FirstError { get; init; }
    public double DurationS { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CachedTokens { get; init; }
    public bool UsageReported { get; init; }
    public double RequestThroughput { get; init; }
    public double OutputThroughput { get; init; }
    public double TotalTokenThroughput { get; init; }
    public double MeanInputTokens { get; init; }
    public double MeanOutputTokens { get; init; }
    public MetricSummary Ttft { get; init; }
    public MetricSummary Tpot { get; init; }
    public MetricSummary Itl { get; init; }
    public MetricSummary E2e { get; init; }
    public double? SloTtftMs { get; init; }
    public double? SloTpotMs { get; init; }
    public int GoodRequests { get; init; }
    public double Goodput { get; init; }
    public IReadOnlyList<RequestResult> Results { get; init; } = [];

    public static RunSummary From(string label, string arrival, IReadOnlyList<RequestResult> results, double? sloTtftMs, double? sloTpotMs)
    {
        int ok = 0, good = 0;
        long input = 0, output = 0, cached = 0;
        bool usage = results.Count > 0;
        double first = double.MaxValue, last = 0;
        string? firstError = null;
        var ttft = new List<double>(results.Count);
        var tpot = new List<double>(results.Count);
        var e2e = new List<double>(results.Count);
        var itl = new List<double>();
        foreach (var r in results)
        {
            first = Math.Min(first, r.StartMs);
            last = Math.Max(last, r.StartMs + r.E2eMs);
            if (!r.Ok)
            {
                firstError ??= r.Error;
                continue;
            }
            ok++;
            usage &= r.UsageReported;
            if (r.PromptTokens > 0) input += r.PromptTokens;
            if (r.CachedTokens > 0) cached += r.CachedTokens;
            output += r.OutputTokens;
            ttft.Add(r.TtftMs);
            tpot.Add(r.TpotMs);
            e2e.Add(r.E2eMs);
            itl.AddRange(r.InterTokenMs);
            bool meets = (sloTtftMs is not { } t || (!double.IsNaN(r.TtftMs) && r.TtftMs <= t))
                         && (sloTpotMs is not { } p || double.IsNaN(r.TpotMs) || r.TpotMs <= p);
            if (meets) good++;
        }
        double duration = results.Count == 0 ? 0 : (last - first) / 1000;
        double Per(double x) => duration > 0 ? x / duration : double.NaN;
        return new RunSummary
        {
            Label = label,
            Arrival = arrival,
            Requests = results.Count,
            Succeeded = ok,
            Failed = results.Count - ok,
            FirstError = firstError,
            DurationS = duration,
            InputTokens = input,
            OutputTokens = output,
            CachedTokens = cached,
            UsageReported = usage,
            RequestThroughput = Per(ok),
            OutputThroughput = Per(output),
            TotalTokenThroughput = Per(input + output),
            MeanInputTokens = ok > 0 ? (double)input / ok : double.NaN,
            MeanOutputTokens = ok > 0 ? (double)output / ok : double.NaN,
            Ttft = MetricSummary.From(ttft),
            Tpot = MetricSummary.From(tpot),
            Itl = MetricSummary.From(itl),
            E2e = MetricSummary.From(e2e),
            SloTtftMs = sloTtftMs,
            SloTpotMs = sloTpotMs,
            GoodRequests = sloTtftMs is null && sloTpotMs is null ? ok : good,
            Goodput = Per(sloTtftMs is null && sloTpotMs is null ? ok : good),
            Results = results,
        };
    }
}
