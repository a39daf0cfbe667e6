using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>GET /metrics: valid Prometheus text with vLLM-style names, and the numbers move with traffic.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public partial class MetricsTests(ServerFixture fixture)
{
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (?<value>\S+)$""")]
    private static partial Regex Sample();

    [GeneratedRegex("""^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$""")]
    private static partial Regex Comment();

    /// <summary>Parses the exposition; every line must be a sample or a HELP/TYPE comment.</summary>
    async Task<Dictionary<string, double>> ScrapeAsync()
    {
        using var response = await fixture.Client.GetAsync("/metrics");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(response.Content.Headers.ContentType?.MediaType).IsEqualTo("text/plain");
        string text = await response.Content.ReadAsStringAsync();
        var samples = new Dictionary<string, double>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (Comment().IsMatch(line)) continue;
            var m = Sample().Match(line);
            if (!m.Success) throw new FormatException($"not a Prometheus line: '{line}'");
            string value = m.Groups["value"].Value;
            double v = value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture);
            samples[m.Groups["name"].Value + m.Groups["labels"].Value] = v;
        }
        return samples;
    }

    static double Get(Dictionary<string, double> samples, string prefix) =>
        samples.Single(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Value;

    [Test]
    public async Task Metrics_parse_and_counters_move_after_requests()
    {
        var before = await ScrapeAsync();
        foreach (string name in new[] { "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "onnxlm:kv_blocks_used", "onnxlm:kv_blocks_free", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total" })
            await Assert.That(before.Keys.Any(k => k.StartsWith(name + "{", StringComparison.Ordinal))).IsTrue().Because(name);

        var (status, _) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/completions", "{\"prompt\":\"metrics please\",\"max_tokens\":4,\"ignore_eos\":true}");
        await Assert.That(status).IsEqualTo(200);
        var (bad, _) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/completions", "{\"prompt\":\"x\",\"temperature\":9}");
        await Assert.That(bad).IsEqualTo(400);

        var after = await ScrapeAsync();
        await Assert.That(Get(after, "vllm:generation_tokens_total{") - Get(before, "vllm:generation_tokens_total{")).IsGreaterThanOrEqualTo(4);
        await Assert.That(Get(after, "vllm:prompt_tokens_total{")).IsGreaterThan(Get(before, "vllm:prompt_tokens_total{"));
        await Assert.That(Get(after, "vllm:e2e_request_latency_seconds_count{")).IsGreaterThan(Get(before, "vllm:e2e_request_latency_seconds_count{"));
        await Assert.That(Get(after, "vllm:time_to_first_token_seconds_count{")).IsGreaterThan(Get(before, "vllm:time_to_first_token_seconds_count{"));
        await Assert.That(Get(after, "vllm:inter_token_latency_seconds_count{")).IsGreaterThanOrEqualTo(Get(before, "vllm:inter_token_latency_seconds_count{") + 3);
        string badRequest = "onnxlm:requests_rejected_total{model_name=\"" + fixture.Server.Engine.ModelId + "\",reason=\"bad_request\"}";
        await Assert.That(after[badRequest]).IsGreaterThan(before[badRequest]);
        // Histogram buckets are cumulative and end with +Inf == count.
        double inf = Get(after, "vllm:e2e_request_latency_seconds_bucket{model_name=\"" + fixture.Server.Engine.ModelId + "\",le=\"+Inf\"");
        await Assert.That(inf).IsEqualTo(Get(after, "vllm:e2e_request_latency_seconds_count{"));
    }
}
