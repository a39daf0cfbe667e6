using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using OnnxLm.Load.Cli;
using OnnxLm.Load.Reporting;
using OnnxLm.Load.Running;
using OnnxLm.Load.Stats;

namespace OnnxLm.Load.Compare;

/// <summary>
/// Starts two servers, waits for both to be healthy, runs the same workload against each (alternating which goes first
/// per repeat, so slow drift of a shared machine does not favour one), prints the ratios and stops both servers even
/// when the run fails or is interrupted. Only one server is under load at any moment; the other is idle.
/// </summary>
public static class CompareCommand
{
    public static async Task<int> RunAsync(LoadOptions o, IReadOnlyList<string> args, CancellationToken ct)
    {
        string commandA = o.CommandA ?? DefaultOnnxLmCommand(o);
        string commandB = o.CommandB ?? (o.BIsOnnxLm ? DefaultOnnxLmCommand(o, o.ExtraArgsB) : DefaultBaselineCommand(o));
        commandA = Substitute(commandA, o.PortA, o.ModelDir);
        commandB = Substitute(commandB, o.PortB, o.ModelDir);
        Console.Error.WriteLine($"A ({o.NameA}): {commandA}");
        Console.Error.WriteLine($"B ({o.NameB}): {commandB}");

        var runsA = new List<RunSummary>();
        var runsB = new List<RunSummary>();
        await using (var a = ServerProcess.Start(o.NameA, commandA, o.PortA, o.LogDir))
        await using (var b = ServerProcess.Start(o.NameB, commandB, o.PortB, o.LogDir))
        {
            var timeout = TimeSpan.FromSeconds(o.StartupTimeoutS);
            await Task.WhenAll(a.WaitHealthyAsync(timeout, ct), b.WaitHealthyAsync(timeout, ct)).ConfigureAwait(false);
            Console.Error.WriteLine($"both healthy; logs: {a.LogPath}, {b.LogPath}");
            Console.Error.WriteLine(o.CreateWorkload(o.Seed).Describe());
            for (int rep = 0; rep < o.Repeats; rep++)
            {
                for (int k = 0; k < o.Arrivals.Count; k++)
                {
                    var arrival = o.Arrivals[k];
                    int seed = o.RunSeed(rep * o.Arrivals.Count + k);
                    // Alternate the order per repeat.
                    bool aFirst = rep % 2 == 0;
                    var first = aFirst ? a : b;
                    var second = aFirst ? b : a;
                    var r1 = await Measurement.RunAsync(first.Url, o, arrival, seed, first.Name, ct, o.RequestOptionsFor(aFirst)).ConfigureAwait(false);
                    var r2 = await Measurement.RunAsync(second.Url, o, arrival, seed, second.Name, ct, o.RequestOptionsFor(!aFirst)).ConfigureAwait(false);
                    runsA.Add(aFirst ? r1 : r2);
                    runsB.Add(aFirst ? r2 : r1);
                }
            }
        }

        var rows = Rows(o, runsA, runsB);
        string table = RatioTable(o, rows);
        string runs = MarkdownTable.Runs(Interleave(runsA, runsB));
        Console.WriteLine(table);
        Console.WriteLine(runs);
        if (o.OutMarkdown is not null)
            await File.WriteAllTextAsync(o.OutMarkdown, "## " + o.CreateWorkload(o.Seed).Describe() + "\n\n" + table + "\n" + runs, ct).ConfigureAwait(false);
        if (o.OutJson is not null) WriteJson(o, args, rows, runsA, runsB);
        bool anyFailed = runsA.Exists(r => r.Failed > 0) || runsB.Exists(r => r.Failed > 0);
        return anyFailed ? 1 : 0;
    }

    /// <summary>Per arrival setting: medians over repeats, and the spread of the per-repeat ratios.</summary>
    public sealed record RatioRow(string Arrival, double OutA, double OutB, double OutRatio, double OutRatioMin, double OutRatioMax,
        double TtftA, double TtftB, double TtftRatio, double TtftRatioMin, double TtftRatioMax);

    static List<RatioRow> Rows(LoadOptions o, List<RunSummary> a, List<RunSummary> b)
    {
        var rows = new List<RatioRow>();
        int n = o.Arrivals.Count;
        for (int k = 0; k < n; k++)
        {
            var outA = new List<double>(); var outB = new List<double>(); var outR = new List<double>();
            var tA = new List<double>(); var tB = new List<double>(); var tR = new List<double>();
            for (int i = k; i < a.Count; i += n)
            {
                outA.Add(a[i].OutputThroughput);
                outB.Add(b[i].OutputThroughput);
                outR.Add(a[i].OutputThroughput / b[i].OutputThroughput);
                tA.Add(a[i].Ttft.P50);
                tB.Add(b[i].Ttft.P50);
                tR.Add(b[i].Ttft.P50 / a[i].Ttft.P50);
            }
            rows.Add(new RatioRow(o.Arrivals[k].ToString(),
                Percentiles.Median(outA.ToArray()), Percentiles.Median(outB.ToArray()), Percentiles.Median(outR.ToArray()), Min(outR), Max(outR),
                Percentiles.Median(tA.ToArray()), Percentiles.Median(tB.ToArray()), Percentiles.Median(tR.ToArray()), Min(tR), Max(tR)));
        }
        return rows;
    }

    static double Min(List<double> v) => v.Count == 0 ? double.NaN : v.Min();
    static double Max(List<double> v) => v.Count == 0 ? double.NaN : v.Max();

    static string RatioTable(LoadOptions o, List<RatioRow> rows)
    {
        var sb = new StringBuilder();
        string spread = o.Repeats > 1 ? $" (median of {o.Repeats}, [min–max])" : "";
        sb.AppendLine(CultureInfo.InvariantCulture, $"| arrival | {o.NameA} out tok/s | {o.NameB} out tok/s | throughput ×{spread} | {o.NameA} TTFT p50 ms | {o.NameB} TTFT p50 ms | TTFT speed-up ×{spread} |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string outSpread = o.Repeats > 1 ? $" [{MarkdownTable.F(r.OutRatioMin, 2)}–{MarkdownTable.F(r.OutRatioMax, 2)}]" : "";
            string ttftSpread = o.Repeats > 1 ? $" [{MarkdownTable.F(r.TtftRatioMin, 2)}–{MarkdownTable.F(r.TtftRatioMax, 2)}]" : "";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Arrival} | {MarkdownTable.F(r.OutA, 1)} | {MarkdownTable.F(r.OutB, 1)} | {MarkdownTable.F(r.OutRatio, 2)}{outSpread} | {MarkdownTable.F(r.TtftA, 0)} | {MarkdownTable.F(r.TtftB, 0)} | {MarkdownTable.F(r.TtftRatio, 2)}{ttftSpread} |");
        }
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"throughput × = {o.NameA} ÷ {o.NameB} output tokens/s; TTFT speed-up × = {o.NameB} ÷ {o.NameA} median TTFT (both > 1 when {o.NameA} is better).");
        return sb.ToString();
    }

    static IEnumerable<RunSummary> Interleave(List<RunSummary> a, List<RunSummary> b)
    {
        for (int i = 0; i < a.Count; i++)
        {
            yield return a[i];
            yield return b[i];
        }
    }

    static void WriteJson(LoadOptions o, IReadOnlyList<string> args, List<RatioRow> rows, List<RunSummary> a, List<RunSummary> b)
    {
        using var file = File.Create(o.OutJson!);
        using var w = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        JsonReport.WriteEnvironment(w, o.CreateWorkload(o.Seed).Describe(), args);
        w.WriteString("a", o.NameA);
        w.WriteString("b", o.NameB);
        w.WriteNumber("repeats", o.Repeats);
        w.WriteStartArray("ratios");
        foreach (var r in rows)
        {
            w.WriteStartObject();
            w.WriteString("arrival", r.Arrival);
            JsonReport.Number(w, "a_output_tok_s", r.OutA);
            JsonReport.Number(w, "b_output_tok_s", r.OutB);
            JsonReport.Number(w, "output_tok_s_ratio", r.OutRatio);
            JsonReport.Number(w, "output_tok_s_ratio_min", r.OutRatioMin);
            JsonReport.Number(w, "output_tok_s_ratio_max", r.OutRatioMax);
            JsonReport.Number(w, "a_ttft_p50_ms", r.TtftA);
            JsonReport.Number(w, "b_ttft_p50_ms", r.TtftB);
            JsonReport.Number(w, "ttft_p50_speedup", r.TtftRatio);
            JsonReport.Number(w, "ttft_p50_speedup_min", r.TtftRatioMin);
            JsonReport.Number(w, "ttft_p50_speedup_max", r.TtftRatioMax);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("runs");
        foreach (var s in Interleave(a, b)) JsonReport.WriteRun(w, s, o.PerRequest);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static string Substitute(string command, int port, string? model) =>
        command.Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
               .Replace("{model}", model is null ? "" : Quote(Path.GetFullPath(model)), StringComparison.Ordinal);

    static string DefaultOnnxLmCommand(LoadOptions o, string? extraArgs = null)
    {
        string exe = FindBuilt(Path.Combine("src", "OnnxLm"), "onnxlm");
        string threads = o.Threads is { } t ? $" --threads {t}" : "";
        return $"{Quote(exe)} serve --model {{model}} --port {{port}}{threads} {extraArgs ?? o.ExtraArgsA}".TrimEnd();
    }

    static string DefaultBaselineCommand(LoadOptions o)
    {
        string exe = FindBuilt(Path.Combine("perf", "OnnxLm.Baseline"), "OnnxLm.Baseline");
        string threads = o.Threads is { } t ? $" --threads {t}" : "";
        return $"{Quote(exe)} --model {{model}} --port {{port}}{threads} {o.ExtraArgsB}".TrimEnd();
    }

    /// <summary>The Release build output of a project in this repository (found by walking up to Aot.sln).</summary>
    static string FindBuilt(string projectDir, string exeName)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Aot.sln"))) dir = dir.Parent;
        if (dir is null) throw new UsageException("cannot find the repository (Aot.sln) above this tool; pass --a-cmd and --b-cmd");
        string candidate = Path.Combine(dir.FullName, projectDir, "bin", "Release", "net10.0", RuntimeInformation.RuntimeIdentifier, exeName);
        if (OperatingSystem.IsWindows()) candidate += ".exe";
        if (!File.Exists(candidate))
            throw new UsageException($"{candidate} not found: run `dotnet build -c Release` first, or pass --a-cmd/--b-cmd");
        return candidate;
    }

    static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
