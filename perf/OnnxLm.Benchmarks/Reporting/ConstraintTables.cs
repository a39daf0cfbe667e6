using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Benchmarks.Reporting;

/// <summary>
/// The structured-output tables of docs/BENCHMARKS.md: the enforcement honesty table (<c>enforcement.json</c> from the
/// <c>enforcement</c> subcommand) and mask latency per vocabulary (<c>mask-latency.json</c> from <c>mask-latency</c>).
/// Null when the result file is missing (the section is then left as it was).
/// </summary>
public static class ConstraintTables
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string? Enforcement(string dir)
    {
        string path = Path.Combine(dir, "enforcement.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var r = doc.RootElement;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Commit `{Short(r.GetProperty("commit").GetString())}`, {r.GetProperty("date").GetString()}. Each accepted schema: {r.GetProperty("seeds").GetInt32()} documents by mask-guided random decoding " +
                           $"over {r.GetProperty("vocabulary").GetString()} (at most {r.GetProperty("maxSteps").GetInt32()} tokens; the ones that did not end are counted as unfinished), validated by ajv.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        sb.AppendLine();
        sb.AppendLine("| schemas from | schemas | refused with a 400 | accepted, every output valid | **accepted, an invalid output** | outputs validated (unfinished) | suite-labelled invalid instances | **of them accepted** | validator |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in r.GetProperty("sources").EnumerateArray())
        {
            sb.AppendLine(Inv, $"| {s.GetProperty("name").GetString()} | {s.GetProperty("schemas").GetInt32()} | {s.GetProperty("refused").GetInt32()} | {s.GetProperty("acceptedAllValid").GetInt32()} | " +
                               $"**{s.GetProperty("acceptedInvalid").GetInt32()}** | {s.GetProperty("outputs").GetInt32()} ({s.GetProperty("unfinished").GetInt32()}) | {s.GetProperty("labelledInvalid").GetInt32()} | " +
                               $"**{s.GetProperty("missedInvalid").GetInt32()}** | {s.GetProperty("validator").GetString()} |");
        }
        sb.AppendLine();
        foreach (var s in r.GetProperty("sources").EnumerateArray())
        {
            string refused = string.Join(", ", s.GetProperty("refusedBy").EnumerateObject().Select(p => $"`{p.Name}` {p.Value.GetInt32()}"));
            sb.AppendLine(Inv, $"Refused by keyword, {s.GetProperty("name").GetString()}: {(refused.Length == 0 ? "none" : refused)}.");
            sb.AppendLine();
            foreach (var p in s.GetProperty("problems").EnumerateArray()) sb.AppendLine(Inv, $"* **problem:** {p.GetString()}");
        }
        return sb.ToString();
    }

    public static string? Mask(string dir)
    {
        string path = Path.Combine(dir, "mask-latency.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var r = doc.RootElement;
        var m = r.GetProperty("machine");
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"{r.GetProperty("schemas").GetInt32()} corpus schemas × {r.GetProperty("seeds").GetInt32()} seeds, at most {r.GetProperty("maxSteps").GetInt32()} masks per document. " +
                           $"Commit `{Short(m.GetProperty("commit").GetString())}`, {m.GetProperty("cpu").GetString()}, load average {m.GetProperty("loadAverageStart").GetString()} before, " +
                           $"{m.GetProperty("loadAverageEnd").GetString()} after; {r.GetProperty("date").GetString()}.");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Command: `{r.GetProperty("command").GetString()}`");
        sb.AppendLine();
        sb.AppendLine("| vocabulary | tokens | trie build ms | masks | mean µs (target ≤ 100) | p50 µs | p99 µs (target ≤ 1,000) | max µs | max µs, caches warm | allocated on first visits B | allocated per step, caches warm B (target 0) |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var v in r.GetProperty("masks").EnumerateArray())
        {
            int masks = v.GetProperty("masks").GetInt32();
            long steady = v.GetProperty("steadyBytes").GetInt64();
            sb.AppendLine(Inv, $"| {v.GetProperty("vocabulary").GetString()} | {v.GetProperty("vocabularySize").GetInt32():N0} | {v.GetProperty("trieMillis").GetDouble():F0} | {masks:N0} | " +
                               $"**{v.GetProperty("meanMicros").GetDouble():F1}** | {v.GetProperty("p50Micros").GetDouble():F1} | **{v.GetProperty("p99Micros").GetDouble():F1}** | {v.GetProperty("maxMicros").GetDouble():F0} | " +
                               $"{(v.TryGetProperty("warmMaxMicros", out var warm) ? warm.GetDouble().ToString("F0", Inv) : "–")} | " +
                               $"{v.GetProperty("firstVisitBytes").GetInt64():N0} | **{(masks == 0 ? 0 : steady / (double)masks):F1}** |");
        }
        sb.AppendLine();
        string slowest = r.TryGetProperty("compileSlowest", out var slow) ? $" (`{slow.GetString()}`)" : "";
        sb.AppendLine(Inv, $"Schema compile time over the corpus: p50 **{r.GetProperty("compileP50Micros").GetDouble():F0} µs** (target ≤ 2,000), p99 {r.GetProperty("compileP99Micros").GetDouble():F0} µs, max {r.GetProperty("compileMaxMicros").GetDouble():F0} µs{slowest}.");
        return sb.ToString();
    }

    static string Short(string? commit) => commit is null ? "unknown" : commit[..Math.Min(12, commit.Length)];
}
