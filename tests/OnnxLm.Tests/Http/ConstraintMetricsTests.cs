using System.Globalization;
using System.Text.Json;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// The constrained decoder's /metrics on a server of its own (so the counts are exact): constrained requests, grammar
/// cache hits and misses, the schema compile time histogram (one observation per miss, refusals included) and the
/// sampled mask time histogram (one mask in <c>GrammarMask.MaskSampleInterval</c>, over every masked token).
/// </summary>
public class ConstraintMetricsTests
{
    const string Schema = """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":99}},"required":["ok","n"],"additionalProperties":false}""";

    static string Body(string schema, string extra) =>
        $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"json\"}}],\"max_tokens\":40,{extra}" +
        $"\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"m\",\"strict\":true,\"schema\":{schema}}}}}}}";

    [Test]
    public async Task Constrained_requests_cache_hits_and_both_histograms_are_exact()
    {
        await using OnnxLmServer server = await ServerFixture.StartDedicatedAsync();
        using HttpClient client = ServerFixture.CreateClient(server);
        string labels = "{model_name=\"" + server.Engine.ModelId + "\"";

        var before = await ScrapeAsync(client);
        await Assert.That(before[$"onnxlm:constrained_requests_total{labels}}}"]).IsEqualTo(0);
        await Assert.That(before[$"onnxlm:grammar_mask_seconds_count{labels}}}"]).IsEqualTo(0);

        long masked = 0;
        foreach (string extra in new[] { "\"temperature\":0,", "\"temperature\":1,\"seed\":4,\"n\":2,", "\"temperature\":1,\"seed\":5," })
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body(Schema, extra));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            // Every generated token (EOS included) was chosen under a mask.
            masked += body.GetProperty("usage").GetProperty("completion_tokens").GetInt64();
        }
        var (refused, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body("""{"type":"string","not":{"const":"x"}}""", ""));
        await Assert.That(refused).IsEqualTo(400);
        var (again, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body("""{"type":"string","not":{"const":"x"}}""", ""));
        await Assert.That(again).IsEqualTo(400);
        var (free, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3}");
        await Assert.That(free).IsEqualTo(200);

        var after = await ScrapeAsync(client);
        // Three admitted constrained requests (the n = 2 group once); neither the refused nor the free one counts.
        await Assert.That(after[$"onnxlm:constrained_requests_total{labels}}}"]).IsEqualTo(3);
        // Two schemas compiled (one refused), then three lookups found them: the refusal is cached too.
        await Assert.That(after[$"onnxlm:grammar_cache_misses_total{labels}}}"]).IsEqualTo(2);
        await Assert.That(after[$"onnxlm:grammar_cache_hits_total{labels}}}"]).IsEqualTo(3);
        await Assert.That(after[$"onnxlm:schema_compile_seconds_count{labels}}}"]).IsEqualTo(2);
        await Assert.That(after[$"onnxlm:schema_compile_seconds_sum{labels}}}"]).IsGreaterThan(0);
        await Assert.That(after[$"onnxlm:grammar_mask_seconds_count{labels}}}"]).IsEqualTo((masked + 7) / 8);
        await Assert.That(after[$"onnxlm:grammar_mask_seconds_sum{labels}}}"]).IsGreaterThan(0);
        foreach (string name in new[] { "onnxlm:schema_compile_seconds", "onnxlm:grammar_mask_seconds" })
        {
            // Cumulative buckets that never decrease and end at +Inf == count.
            var buckets = after.Where(kv => kv.Key.StartsWith(name + "_bucket{", StringComparison.Ordinal)).Select(kv => kv.Value).ToList();
            await Assert.That(buckets.Count).IsGreaterThan(5);
            for (int i = 1; i < buckets.Count; i++) await Assert.That(buckets[i]).IsGreaterThanOrEqualTo(buckets[i - 1]);
            await Assert.That(after[$"{name}_bucket{labels},le=\"+Inf\"}}"]).IsEqualTo(after[$"{name}_count{labels}}}"]);
        }
    }

    static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient client)
    {
        string text = await client.GetStringAsync("/metrics");
        var samples = new Dictionary<string, double>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.LastIndexOf(' ');
            string value = line[(space + 1)..];
            samples[line[..space]] = value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture);
        }
        return samples;
    }
}
