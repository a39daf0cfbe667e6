using System.Globalization;
using System.Text;
using OnnxLm.Load.Stats;

namespace OnnxLm.Load.Reporting;

/// <summary>One markdown row per run: throughput, TTFT / TPOT / ITL / E2E percentiles (ms) and goodput.</summary>
public static class MarkdownTable
{
    public static string Runs(IEnumerable<RunSummary> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| run | arrival | ok/err | in/out tok (mean) | cached tok | req/s | out tok/s | TTFT p50/p90/p99 ms | TPOT p50/p90/p99 ms | ITL p50/p99 ms | E2E p50/p99 ms | goodput req/s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var s in runs)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"| {s.Label} | {s.Arrival} | {s.Succeeded}/{s.Failed} | {F(s.MeanInputTokens, 0)}/{F(s.MeanOutputTokens, 0)} | {s.CachedTokens} | {F(s.RequestThroughput, 2)} | {F(s.OutputThroughput, 1)} ");
            sb.Append(CultureInfo.InvariantCulture,
                $"| {F(s.Ttft.P50, 0)}/{F(s.Ttft.P90, 0)}/{F(s.Ttft.P99, 0)} | {F(s.Tpot.P50, 1)}/{F(s.Tpot.P90, 1)}/{F(s.Tpot.P99, 1)} | {F(s.Itl.P50, 1)}/{F(s.Itl.P99, 1)} | {F(s.E2e.P50, 0)}/{F(s.E2e.P99, 0)} | {F(s.Goodput, 2)} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public static string F(double v, int decimals) =>
        double.IsFinite(v) ? v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : "–";
}
