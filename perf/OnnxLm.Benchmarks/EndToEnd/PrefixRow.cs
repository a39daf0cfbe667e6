using System.Globalization;
using System.Text.Json;
using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// One row of the prefix-cache benchmark: samples without the cache (or cold) and with it, one per repeat. The ratio is
/// cold ÷ cached for times (<paramref name="LowerIsBetter"/>) and cached ÷ off for rates, so above 1 means the cache helps.
/// </summary>
public sealed record PrefixRow(string Id, string What, string Unit, IReadOnlyList<double> Baseline, IReadOnlyList<double> Cached, bool LowerIsBetter)
{
    public double Ratio => Baseline.Count == 0 || Cached.Count == 0 ? double.NaN
        : LowerIsBetter ? PrefixCacheBenchmark.Median(Baseline) / PrefixCacheBenchmark.Median(Cached)
        : PrefixCacheBenchmark.Median(Cached) / PrefixCacheBenchmark.Median(Baseline);

    public string Markdown() => string.Create(CultureInfo.InvariantCulture,
        $"| {What} | {Cell(Baseline)} | {Cell(Cached)} | {(double.IsNaN(Ratio) ? "—" : Ratio.ToString("F2", CultureInfo.InvariantCulture) + "×")} |");

    string Cell(IReadOnlyList<double> xs) => xs.Count == 0 ? "—"
        : string.Create(CultureInfo.InvariantCulture, $"{PrefixCacheBenchmark.Median(xs):F1} {Unit}");

    public static void WriteJson(string path, string command, string weights, ModelBuilderOptions preset, string modelDir, int repeats,
        string loadAtStart, IReadOnlyList<PrefixRow> rows)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("kind", "prefix");
        w.WriteString("command", command);
        w.WriteString("date", Machine.MachineInfo.Now());
        Machine.MachineInfo.Write(w, loadAtStart);
        w.WriteString("weights", weights);
        w.WriteNumber("parameters", preset.ParameterCount);
        w.WriteNumber("weightBytes", Machine.MachineInfo.WeightBytes(modelDir));
        w.WriteNumber("repeats", repeats);
        w.WriteStartArray("rows");
        foreach (var row in rows)
        {
            w.WriteStartObject();
            w.WriteString("id", row.Id);
            w.WriteString("what", row.What);
            w.WriteString("unit", row.Unit);
            w.WriteBoolean("lowerIsBetter", row.LowerIsBetter);
            Samples(w, "baseline", row.Baseline);
            Samples(w, "cached", row.Cached);
            if (double.IsFinite(row.Ratio)) w.WriteNumber("ratio", Math.Round(row.Ratio, 3));
            else w.WriteNull("ratio");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void Samples(Utf8JsonWriter w, string name, IReadOnlyList<double> xs)
    {
        w.WriteStartArray(name);
        foreach (double x in xs) w.WriteNumberValue(Math.Round(x, 2));
        w.WriteEndArray();
    }
}
