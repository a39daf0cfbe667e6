using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>What the scale-out tests send and read: greedy completions of token prompts, and counters from <c>/metrics</c>.</summary>
internal static class ScaleOutWire
{
    /// <summary>A prompt of <paramref name="length"/> token ids the tiny model knows (vocabulary 400), fixed by the seed.</summary>
    public static int[] Prompt(int seed, int length)
    {
        var rng = new Random(seed);
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = rng.Next(10, 390);
        return tokens;
    }

    public static string Body(int[] prompt, int maxTokens, string? key = null, bool stream = false) =>
        $"{{\"prompt\":[{string.Join(",", prompt)}],\"max_tokens\":{maxTokens},\"temperature\":0,\"ignore_eos\":true" +
        (key is null ? "" : $",\"prompt_cache_key\":\"{key}\"") + (stream ? ",\"stream\":true" : "") + "}";

    /// <summary>A greedy completion: its text, cached prompt tokens and the replica that answered.</summary>
    public static async Task<(string Text, int Cached, string Replica)> Complete(HttpClient client, int[] prompt, int maxTokens, string? key = null,
        CancellationToken ct = default)
    {
        using var response = await client.PostAsync("/v1/completions", new StringContent(Body(prompt, maxTokens, key), Encoding.UTF8, "application/json"), ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{(int)response.StatusCode}: {text}");
        var json = JsonDocument.Parse(text).RootElement;
        string replica = response.Headers.TryGetValues("X-Onnxlm-Replica", out var names) ? names.Single() : "";
        return (json.GetProperty("choices")[0].GetProperty("text").GetString()!,
                json.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(), replica);
    }

    /// <summary>The value of a metric line that starts with <paramref name="prefix"/> (name and, optionally, labels); 0 when absent.</summary>
    public static double Metric(string metrics, string prefix)
    {
        foreach (var line in metrics.Split('\n'))
            if (line.StartsWith(prefix, StringComparison.Ordinal) && (line.Length == prefix.Length || line[prefix.Length] is '{' or ' ' or ','))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        return 0;
    }

    public static async Task<double> MetricAsync(HttpClient client, string prefix) => Metric(await client.GetStringAsync("/metrics"), prefix);

    /// <summary>Cached prompt tokens served from <paramref name="tier"/> (pool, ssd, remote).</summary>
    public static double TierTokens(string metrics, string tier)
    {
        foreach (var line in metrics.Split('\n'))
            if (line.StartsWith("onnxlm:cached_prompt_tokens_by_tier_total{", StringComparison.Ordinal) && line.Contains($"tier=\"{tier}\"", StringComparison.Ordinal))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        return 0;
    }
}
