using System.Text.Json;
using OnnxLm.Load.Cli;
using OnnxLm.Load.Reporting;
using OnnxLm.Load.Stats;

namespace OnnxLm.Load.Running;

/// <summary><c>onnxlm-load run</c>: one run per arrival setting against --url; the table goes to stdout.</summary>
public static class RunCommand
{
    public static async Task<int> RunAsync(LoadOptions o, IReadOnlyList<string> args, CancellationToken ct)
    {
        string label = o.Label ?? o.Url.Authority;
        string description = o.CreateWorkload(o.Seed).Describe();
        Console.Error.WriteLine(description);
        var runs = new List<RunSummary>();
        for (int i = 0; i < o.Arrivals.Count; i++)
            runs.Add(await Measurement.RunAsync(o.Url, o, o.Arrivals[i], o.RunSeed(i), label, ct).ConfigureAwait(false));

        string table = MarkdownTable.Runs(runs);
        Console.WriteLine(table);
        if (o.OutMarkdown is not null)
            await File.WriteAllTextAsync(o.OutMarkdown, "## " + description + "\n\n" + table, ct).ConfigureAwait(false);
        if (o.OutJson is not null)
        {
            using var file = File.Create(o.OutJson);
            using var w = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            JsonReport.WriteEnvironment(w, description, args);
            w.WriteString("url", o.Url.ToString());
            w.WriteStartArray("runs");
            foreach (var s in runs) JsonReport.WriteRun(w, s, o.PerRequest);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return runs.Exists(r => r.Failed > 0) ? 1 : 0;
    }
}
