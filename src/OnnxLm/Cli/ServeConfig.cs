using System.Collections;
using System.Text;
using System.Text.Json;
using OnnxLm.Hosting;

namespace OnnxLm.Cli;

/// <summary>
/// The effective <c>serve</c> options and where each came from. <see cref="Load"/> applies, in increasing precedence,
/// the defaults, the JSON config file, the <c>ONNXLM_*</c> environment and the command line, all through
/// <see cref="ServeOptionTable"/>. Invariant: a repeatable option holds the values of exactly one source (the highest
/// that sets it); every refusal is a <see cref="UsageException"/> naming the key and its source.
/// </summary>
public sealed class ServeConfig
{
    readonly OptionSource[] sources;
    readonly string?[] origins;   // the env var name / file path / flag that set each option last

    ServeConfig(ServeOptions options, string? configPath, OptionSource[] sources, string?[] origins)
    {
        Options = options;
        ConfigPath = configPath;
        this.sources = sources;
        this.origins = origins;
    }

    public ServeOptions Options { get; }

    /// <summary>The config file that was read, or null when none was.</summary>
    public string? ConfigPath { get; }

    /// <summary>Where option <paramref name="name"/> (kebab-case) got its value.</summary>
    public OptionSource SourceOf(string name) =>
        sources[ServeOptionTable.IndexOf(ServeOptionTable.All.First(o => o.Name == name))];

    /// <summary>Reads this process's environment and the default config file (when present).</summary>
    public static ServeConfig Load(string[] args, int start) =>
        Load(args, start, ReadEnvironment(), ConfigFile.DefaultPath());

    /// <summary>The <c>ONNXLM_*</c> variables of this process.</summary>
    public static Dictionary<string, string> ReadEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && k.StartsWith("ONNXLM_", StringComparison.Ordinal) && e.Value is string v) env[k] = v;
        return env;
    }

    /// <param name="args">The command line; options start at <paramref name="start"/>.</param>
    /// <param name="environment">Environment variables (only <c>ONNXLM_*</c> ones are looked at; an unknown one is an error,
    /// an empty one counts as unset).</param>
    /// <param name="defaultConfigPath">Read when neither <c>--config</c> nor <c>ONNXLM_CONFIG</c> names a file and it exists.</param>
    public static ServeConfig Load(string[] args, int start, IReadOnlyDictionary<string, string> environment, string? defaultConfigPath)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var table = ServeOptionTable.All;
        var o = new ServeOptions();
        var sources = new OptionSource[table.Length];
        var origins = new string?[table.Length];

        // Parse everything before applying anything: --config must be known before the file it names is read.
        var configOption = ServeOptionTable.ByFlag("--config")!;
        var cli = ParseCommandLine(args, start);
        var env = new List<Entry>();
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            // ONNXLM_TEST_* belong to the test suite (snapshot rewriting, page-cache dropping), not to the server.
            if (!name.StartsWith("ONNXLM_", StringComparison.Ordinal) || name.StartsWith("ONNXLM_TEST_", StringComparison.Ordinal)) continue;
            var option = ServeOptionTable.ByEnvName(name)
                ?? throw new UsageException($"environment variable {name}: no such option (see onnxlm serve --help)");
            // An empty variable is unset (how systemd's Environment=NAME= and `NAME= cmd` clear one).
            if (value.Length > 0) env.Add(new Entry(option, value, name));
        }

        var (configPath, configSource) = (default(string), OptionSource.Default);
        foreach (var (list, source) in new[] { (cli, OptionSource.Cli), (env, OptionSource.Env) })
        {
            int at = list.FindLastIndex(e => e.Option == configOption);
            if (at < 0) continue;
            if (list[at].Value.Length == 0) throw new UsageException($"{list[at].Key} must name a file");
            configPath = Path.GetFullPath(list[at].Value);
            configSource = source;
            if (!File.Exists(configPath))
                throw new UsageException($"{(source == OptionSource.Cli ? "--config" : "environment variable ONNXLM_CONFIG")}: config file {configPath} does not exist");
            break;
        }
        if (configPath is null && defaultConfigPath is not null && File.Exists(defaultConfigPath)) configPath = defaultConfigPath;

        if (configPath is not null)
        {
            foreach (var e in ReadFile(configPath))
                Apply(o, e, OptionSource.File, configPath, sources, origins);
            int c = ServeOptionTable.IndexOf(configOption);
            o.ConfigFile = configPath;
            sources[c] = configSource;
            origins[c] = configSource == OptionSource.Env ? configOption.EnvName : null;
        }
        foreach (var e in env)
        {
            if (e.Option == configOption) continue;
            if (e.Option.Kind != OptionKind.List)
            {
                Apply(o, e, OptionSource.Env, e.Key, sources, origins);
                continue;
            }
            // One variable, comma-separated items (keys and origins hold no commas).
            foreach (string item in e.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                Apply(o, e with { Value = item }, OptionSource.Env, e.Key, sources, origins);
            if (sources[ServeOptionTable.IndexOf(e.Option)] != OptionSource.Env)
                throw new UsageException($"environment variable {e.Key} {NotEmpty}");
        }
        foreach (var e in cli)
            if (e.Option != configOption) Apply(o, e, OptionSource.Cli, e.Key, sources, origins);
        return new ServeConfig(o, configPath, sources, origins);
    }

    /// <summary>One value for one option, with the key as the user wrote it (flag, variable or file key).</summary>
    readonly record struct Entry(ServeOption Option, string Value, string Key);

    const string NotEmpty = "must name at least one value";

    static List<Entry> ParseCommandLine(string[] args, int start)
    {
        var list = new List<Entry>();
        var r = new ArgReader(args, start);
        while (r.Next(out string flag, out string? inline))
        {
            var option = ServeOptionTable.ByFlag(flag) ?? throw new UsageException($"unknown option '{flag}' for serve (see onnxlm --help)");
            list.Add(new Entry(option, option.Kind == OptionKind.Switch ? inline ?? "true" : r.Value(flag, inline), flag));
        }
        return list;
    }

    /// <summary>The file's values as text, in file order; an array gives one entry per item.</summary>
    static List<Entry> ReadFile(string path)
    {
        string where = $"config file {path}";
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,   // a hand-edited file may explain itself
                AllowTrailingCommas = true,
            });
        }
        catch (JsonException e)
        {
            throw new UsageException($"{where}: not valid JSON: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{where}: cannot read it: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new UsageException($"{where}: must hold a JSON object of options, like {{\"port\": 8000}}");
            var list = new List<Entry>();
            var seen = new HashSet<ServeOption>();
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                var option = ServeOptionTable.ByFileKey(property.Name)
                    ?? throw new UsageException($"{where}: unknown key \"{property.Name}\" (see onnxlm serve --help)");
                // "max-batch-size" and "max_batch_size" (or one key twice) in one file: which was meant is a guess.
                if (!seen.Add(option)) throw new UsageException($"{where}: \"{property.Name}\" sets {option.Name} a second time");
                var v = property.Value;
                switch (v.ValueKind)
                {
                    case JsonValueKind.String: list.Add(new Entry(option, v.GetString()!, property.Name)); break;
                    case JsonValueKind.Number: list.Add(new Entry(option, v.GetRawText(), property.Name)); break;
                    case JsonValueKind.True: list.Add(new Entry(option, "true", property.Name)); break;
                    case JsonValueKind.False: list.Add(new Entry(option, "false", property.Name)); break;
                    case JsonValueKind.Array when option.Kind == OptionKind.List:
                        if (v.GetArrayLength() == 0) throw new UsageException($"{where}: \"{property.Name}\" {NotEmpty}");
                        foreach (var item in v.EnumerateArray())
                        {
                            if (item.ValueKind != JsonValueKind.String)
                                throw new UsageException($"{where}: \"{property.Name}\" must be an array of strings");
                            list.Add(new Entry(option, item.GetString()!, property.Name));
                        }
                        break;
                    default:
                        throw new UsageException($"{where}: \"{property.Name}\" must be "
                            + (option.Kind == OptionKind.List ? "a string or an array of strings" : option.Kind == OptionKind.Switch ? "true or false" : "a string or a number")
                            + $" (got {Describe(v.ValueKind)})");
                }
            }
            return list;
        }
    }

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <param name="origin">The file path (file), the variable (env) or the flag (cli): what <c>config show</c> names.</param>
    static void Apply(ServeOptions o, Entry e, OptionSource source, string origin, OptionSource[] sources, string?[] origins)
    {
        var option = e.Option;
        int i = ServeOptionTable.IndexOf(option);
        // A list set by a higher source replaces the lower one's values instead of adding to them.
        if (option.Kind == OptionKind.List && sources[i] != source) option.Clear!(o);
        try
        {
            option.Apply(o, e.Value);
        }
        catch (OptionValueException x)
        {
            string got = option.Secret ? "" : $" (got '{e.Value}')";
            throw new UsageException(source switch
            {
                OptionSource.File => $"config file {origin}: \"{e.Key}\" {x.Message}{got}",
                OptionSource.Env => $"environment variable {e.Key} {x.Message}{got}",
                _ => $"{e.Key} {x.Message}{got}",
            });
        }
        sources[i] = source;
        origins[i] = origin;
    }

    /// <summary><c>config show</c>: one line per option with its effective value (API keys as <c>***</c>) and source.</summary>
    public string Render()
    {
        var table = ServeOptionTable.All;
        int nameWidth = 0, valueWidth = 0;
        var values = new string[table.Length];
        for (int i = 0; i < table.Length; i++)
        {
            values[i] = table[i].Show(Options);
            nameWidth = Math.Max(nameWidth, table[i].Name.Length);
            valueWidth = Math.Max(valueWidth, Math.Min(values[i].Length, 48));
        }
        var text = new StringBuilder(2048);
        text.Append("# config file: ").Append(ConfigPath ?? "(none)").Append('\n');
        text.Append("# option".PadRight(nameWidth + 2)).Append("value".PadRight(valueWidth + 2)).Append("source\n");
        for (int i = 0; i < table.Length; i++)
        {
            // Long values (paths) overflow the value column but keep two spaces before the source.
            text.Append(table[i].Name.PadRight(nameWidth + 2)).Append(values[i]).Append(' ', Math.Max(2, valueWidth + 2 - values[i].Length));
            text.Append(sources[i] switch
            {
                OptionSource.File => "file",
                OptionSource.Env => "env " + origins[i],
                OptionSource.Cli => "cli",
                _ => "default",
            });
            text.Append('\n');
        }
        return text.ToString();
    }
}
