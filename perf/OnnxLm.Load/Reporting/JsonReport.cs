using System.Text.Json;
using OnnxLm.Load.Stats;

namespace OnnxLm.Load.Reporting;

/// <summary>
/// Machine-readable results, written with <see cref="Utf8JsonWriter"/>: the environment and workload, one object per run
/// (summary, percentiles, and optionally every request), and for compare mode the ratios. NaN is written as null.
/// </summary>
public static class JsonReport
{
    public static void WriteRun(Utf8JsonWriter w, RunSummary s, bool perRequest)
    {
        w.WriteStartObject();
        w.WriteString("label", s.Label);
        w.WriteString("arrival", s.Arrival);
        w.WriteNumber("requests", s.Requests);
        w.WriteNumber("succeeded", s.Succeeded);
        w.WriteNumber("failed", s.Failed);
        if (s.FirstError is not null) w.WriteString("first_error", s.FirstError);
        Number(w, "duration_s", s.DurationS);
        w.WriteNumber("input_tokens", s.InputTokens);
        w.WriteNumber("output_tokens", s.OutputTokens);
        w.WriteNumber("cached_tokens", s.CachedTokens);
        w.WriteBoolean("output_tokens_from_usage", s.UsageReported);
        Number(w, "mean_input_tokens", s.MeanInputTokens);
        Number(w, "mean_output_tokens", s.MeanOutputTokens);
        Number(w, "request_throughput", s.RequestThroughput);
        Number(w, "output_token_throughput", s.OutputThroughput);
        Number(w, "total_token_throughput", s.TotalTokenThroughput);
        Metric(w, "ttft_ms", s.Ttft);
        Metric(w, "tpot_ms", s.Tpot);
        Metric(w, "itl_ms", s.Itl);
        Metric(w, "e2e_ms", s.E2e);
        if (s.SloTtftMs is { } t) w.WriteNumber("slo_ttft_ms", t);
        if (s.SloTpotMs is { } p) w.WriteNumber("slo_tpot_ms", p);
        w.WriteNumber("good_requests", s.GoodRequests);
        Number(w, "goodput", s.Goodput);
        if (perRequest)
        {
            w.WriteStartArray("per_request");
            foreach (var r in s.Results)
            {
                w.WriteStartObject();
                w.WriteBoolean("ok", r.Ok);
                if (r.Error is not null) w.WriteString("error", r.Error);
                Number(w, "start_ms", r.StartMs);
                Number(w, "ttft_ms", r.TtftMs);
                Number(w, "tpot_ms", r.TpotMs);
                Number(w, "e2e_ms", r.E2eMs);
                w.WriteNumber("prompt_tokens", r.PromptTokens);
                w.WriteNumber("output_tokens", r.OutputTokens);
                w.WriteNumber("cached_tokens", r.CachedTokens);
                w.WriteStartArray("itl_ms");
                foreach (double x in r.InterTokenMs) w.WriteNumberValue(Math.Round(x, 3));
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    static void Metric(Utf8JsonWriter w, string name, MetricSummary m)
    {
        w.WriteStartObject(name);
        w.WriteNumber("count", m.Count);
        Number(w, "mean", m.Mean);
        Number(w, "p50", m.P50);
        Number(w, "p90", m.P90);
        Number(w, "p99", m.P99);
        Number(w, "max", m.Max);
        w.WriteEndObject();
    }

    public static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, Math.Round(v, 4));
        else w.WriteNull(name);
    }

    static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    static string Commit()
    {
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("git", "rev-parse HEAD")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var git = System.Diagnostics.Process.Start(start)!;
            string text = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 && text.Length > 0 ? text : "unknown";
        }
        catch (System.ComponentModel.Win32Exception) { return "unknown"; }
    }

    public static void WriteEnvironment(Utf8JsonWriter w, string workload, IReadOnlyList<string> args)
    {
        w.WriteString("tool", "onnxlm-load");
        w.WriteString("timestamp_utc", DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("machine", Environment.MachineName);
        w.WriteNumber("processors", Environment.ProcessorCount);
        w.WriteString("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
        w.WriteString("commit", Commit());
        // The load average when the report is written (the end of the run): other processes are the main noise source.
        w.WriteString("loadavg_end", LoadAverage());
        w.WriteString("workload", workload);
        w.WriteStartArray("args");
        foreach (var a in args) w.WriteStringValue(a);
        w.WriteEndArray();
    }
}
