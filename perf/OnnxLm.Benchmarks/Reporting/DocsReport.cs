using System.Text;

namespace OnnxLm.Benchmarks.Reporting;

/// <summary>
/// The <c>report</c> subcommand: turns the result files of <c>perf/run.sh</c> (JSON in one directory) into the tables of
/// docs/BENCHMARKS.md, so no number in the docs is typed by hand. Each table is a section between
/// <c>&lt;!-- generated:NAME --&gt;</c> and <c>&lt;!-- /generated:NAME --&gt;</c>. With <c>--doc FILE</c> the sections of
/// FILE are replaced in place (the prose around them is kept; a section whose result file is missing is left as it
/// was); without it every available section is printed to stdout, markers included.
/// </summary>
public static class DocsReport
{
    public static int Run(string[] args)
    {
        string dir = Path.Combine("artifacts", "perf");
        string? doc = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--dir" when i + 1 < args.Length: dir = args[++i]; break;
                case "--doc" when i + 1 < args.Length: doc = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: report [--dir artifacts/perf] [--doc docs/BENCHMARKS.md]");
                    return 2;
            }
        }
        if (!Directory.Exists(dir))
        {
            Console.Error.WriteLine($"report: {dir} does not exist (run perf/run.sh first)");
            return 1;
        }
        var tables = new ReportTables(dir);
        var sections = new List<(string Name, string Body)>();
        foreach (var (name, build) in tables.Sections())
        {
            string? body = build();
            if (body is null) Console.Error.WriteLine($"report: no results for '{name}' in {dir}; section left unchanged");
            else sections.Add((name, body));
        }
        if (doc is null)
        {
            var sb = new StringBuilder();
            foreach (var (name, body) in sections) sb.Append(Wrap(name, body)).AppendLine();
            Console.Write(sb.ToString());
            return 0;
        }
        string text = File.ReadAllText(doc);
        foreach (var (name, body) in sections)
        {
            string begin = Begin(name), end = End(name);
            int b = text.IndexOf(begin, StringComparison.Ordinal);
            int e = text.IndexOf(end, StringComparison.Ordinal);
            if (b < 0 || e < b)
            {
                Console.Error.WriteLine($"report: {doc} has no '{begin}' ... '{end}' section; appending it");
                text = text.TrimEnd() + "\n\n" + Wrap(name, body);
                continue;
            }
            text = text[..b] + Wrap(name, body).TrimEnd('\n') + text[(e + end.Length)..];
        }
        File.WriteAllText(doc, text);
        Console.Error.WriteLine($"report: updated {sections.Count} section(s) of {doc}");
        return 0;
    }

    static string Begin(string name) => $"<!-- generated:{name} -->";
    static string End(string name) => $"<!-- /generated:{name} -->";
    static string Wrap(string name, string body) => Begin(name) + "\n" + body.TrimEnd('\n') + "\n" + End(name) + "\n";
}
