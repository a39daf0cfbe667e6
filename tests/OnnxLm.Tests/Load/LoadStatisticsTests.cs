using OnnxLm.Load.Stats;

namespace OnnxLm.Tests.Load;

/// <summary>Percentiles (linear interpolation), per-request TPOT, throughput over the run's wall time and goodput.</summary>
public class LoadStatisticsTests
{
    [Test]
    public async Task Percentiles_interpolate_between_closest_ranks()
    {
        double[] sorted = [10, 20, 30, 40];
        await Assert.That(Percentiles.OfSorted(sorted, 50)).IsEqualTo(25.0);
        await Assert.That(Percentiles.OfSorted(sorted, 90)).IsEqualTo(37.0).Within(1e-9);
        await Assert.That(Percentiles.OfSorted(sorted, 0)).IsEqualTo(10.0);
        await Assert.That(Percentiles.OfSorted(sorted, 100)).IsEqualTo(40.0);
        await Assert.That(double.IsNaN(Percentiles.OfSorted([], 50))).IsTrue();
        await Assert.That(Percentiles.Median([5, 1, 3])).IsEqualTo(3.0);
    }

    [Test]
    public async Task Metric_summary_leaves_out_nan()
    {
        var m = MetricSummary.From([double.NaN, 4, 2, double.NaN]);
        await Assert.That(m.Count).IsEqualTo(2);
        await Assert.That(m.Mean).IsEqualTo(3.0);
        await Assert.That(m.P50).IsEqualTo(3.0);
        await Assert.That(m.Max).IsEqualTo(4.0);
    }

    static RequestResult Ok(double start, double ttft, double e2e, int tokens, int prompt = 100) =>
        new() { Ok = true, StartMs = start, TtftMs = ttft, E2eMs = e2e, OutputTokens = tokens, PromptTokens = prompt, UsageReported = true };

    [Test]
    public async Task Tpot_excludes_the_first_token()
    {
        await Assert.That(Ok(0, 100, 1100, 11).TpotMs).IsEqualTo(100.0);
        await Assert.That(double.IsNaN(Ok(0, 100, 100, 1).TpotMs)).IsTrue();
    }

    [Test]
    public async Task Throughput_divides_by_first_start_to_last_end_and_failures_do_not_count()
    {
        RequestResult[] results =
        [
            Ok(start: 0, ttft: 100, e2e: 1000, tokens: 10),
            Ok(start: 500, ttft: 100, e2e: 1500, tokens: 30),   // ends at 2000 ms
            new() { Ok = false, Error = "HTTP 500", StartMs = 600, E2eMs = 10 },
        ];
        var s = RunSummary.From("x", "c=2", results, null, null);
        await Assert.That(s.DurationS).IsEqualTo(2.0);
        await Assert.That(s.Succeeded).IsEqualTo(2);
        await Assert.That(s.Failed).IsEqualTo(1);
        await Assert.That(s.FirstError).IsEqualTo("HTTP 500");
        await Assert.That(s.OutputTokens).IsEqualTo(40L);
        await Assert.That(s.OutputThroughput).IsEqualTo(20.0);
        await Assert.That(s.RequestThroughput).IsEqualTo(1.0);
        await Assert.That(s.TotalTokenThroughput).IsEqualTo(120.0);
        await Assert.That(s.Goodput).IsEqualTo(1.0);   // no SLO: every success is good
    }

    [Test]
    public async Task Goodput_counts_requests_meeting_both_slos()
    {
        RequestResult[] results =
        [
            Ok(0, ttft: 50, e2e: 50 + 9 * 20, tokens: 10),    // TTFT ok, TPOT 20 ok
            Ok(0, ttft: 300, e2e: 300 + 9 * 20, tokens: 10),  // TTFT too slow
            Ok(0, ttft: 50, e2e: 50 + 9 * 80, tokens: 10),    // TPOT 80 too slow
            Ok(0, ttft: 60, e2e: 60, tokens: 1),              // no TPOT: meets the TPOT target
        ];
        var s = RunSummary.From("x", "c=4", results, sloTtftMs: 100, sloTpotMs: 50);
        await Assert.That(s.GoodRequests).IsEqualTo(2);
        await Assert.That(s.Goodput).IsEqualTo(2 / s.DurationS).Within(1e-9);
    }
}
