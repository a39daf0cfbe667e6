using System.Globalization;
using OnnxLm.Hosting;

namespace OnnxLm.Cli;

/// <summary>
/// One row of <see cref="ServeOptionTable"/>: everything the CLI parser, the environment and file readers, <c>--help</c>
/// and <c>config show</c> need to know about a <c>serve</c> option. One kebab-case <see cref="Name"/> yields every spelling:
/// <c>--max-batch-size</c>, <c>ONNXLM_MAX_BATCH_SIZE</c>, and the file keys <c>"max-batch-size"</c> / <c>"max_batch_size"</c>.
/// <see cref="Apply"/> parses one textual value (a switch gets "true"/"false", a list one item) and assigns it, throwing
/// <see cref="OptionValueException"/> with the requirement when the value is bad.
/// </summary>
internal sealed class ServeOption
{
    public required string Name { get; init; }
    public required OptionKind Kind { get; init; }
    /// <summary>Placeholder in help, e.g. <c>N</c>, <c>BYTES</c> (empty for switches).</summary>
    public string ValueName { get; init; } = "";
    public required string Help { get; init; }
    /// <summary>The default as help shows it ("8", "one per core", "off").</summary>
    public required string DefaultText { get; init; }
    /// <summary>Values never printed (API keys): <c>config show</c> prints <c>***</c>, errors omit the value.</summary>
    public bool Secret { get; init; }
    /// <summary>False for <c>--config</c>: a config file cannot name another one.</summary>
    public bool InFile { get; init; } = true;
    public required Action<ServeOptions, string> Apply { get; init; }
    /// <summary>The effective value as <c>config show</c> prints it.</summary>
    public required Func<ServeOptions, string> Show { get; init; }
    /// <summary>Lists only: empties the list before a higher-precedence source sets it (sources replace, never merge).</summary>
    public Action<ServeOptions>? Clear { get; init; }

    public string Flag => "--" + Name;
    public string EnvName => "ONNXLM_" + Name.Replace('-', '_').ToUpperInvariant();
    public string SnakeName => Name.Replace('-', '_');

    // Value parsers shared by the table. Each throws OptionValueException with the requirement only.

    public static int ParseInt(string text, int min, int max)
    {
        if (!int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw new OptionValueException($"must be an integer between {min} and {max}");
        return n;
    }

    /// <summary>A byte count with an optional K/M/G/T suffix (powers of 1024), within [min, max].</summary>
    public static long ParseBytes(string text, long min = 0, long max = long.MaxValue)
    {
        string v = text.Trim();
        long unit = 1;
        if (v.Length > 0 && char.IsLetter(v[^1]))
        {
            unit = char.ToUpperInvariant(v[^1]) switch
            {
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                _ => 0,
            };
            v = v[..^1];
        }
        if (unit == 0 || !long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > long.MaxValue / unit
            || n * unit < min || n * unit > max)
        {
            string range = min > 0 || max < long.MaxValue ? $" between {FormatBytes(min)} and {FormatBytes(max)}" : "";
            throw new OptionValueException($"must be a byte count like 512M or 2G{range}");
        }
        return n * unit;
    }

    /// <summary>Seconds, fractions allowed (0.5), within [0, max].</summary>
    public static TimeSpan ParseSeconds(string text, double max)
    {
        if (!double.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double s) || s < 0 || s > max)
            throw new OptionValueException($"must be a number of seconds between 0 and {max.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(s);
    }

    /// <summary>1/0, true/false, yes/no, on/off (any case).</summary>
    public static bool ParseBool(string text) => text.Trim().ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => throw new OptionValueException("must be true or false (or 1/0, yes/no, on/off)"),
    };

    public static string NonEmpty(string text, int maxLength = int.MaxValue)
    {
        if (text.Length == 0 || text.Length > maxLength)
            throw new OptionValueException(maxLength == int.MaxValue ? "must not be empty" : $"must be 1 to {maxLength} characters");
        return text;
    }

    /// <summary>The shortest exact K/M/G/T spelling of a byte count ("8M", "1536K", "100").</summary>
    public static string FormatBytes(long bytes)
    {
        ReadOnlySpan<char> units = ['T', 'G', 'M', 'K'];
        for (int i = 0; i < units.Length; i++)
        {
            int shift = 40 - 10 * i;
            if (bytes != 0 && bytes % (1L << shift) == 0) return (bytes >> shift).ToString(CultureInfo.InvariantCulture) + units[i];
        }
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    public static string FormatSeconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    public static string FormatBool(bool b) => b ? "true" : "false";
}
