using System.Globalization;

namespace OnnxLm.Cli;

/// <summary>Reads <c>--flag value</c> / <c>--flag=value</c> / <c>--switch</c> arguments; every mistake is a <see cref="UsageException"/>.</summary>
internal sealed class ArgReader(string[] args, int start)
{
    int index = start;

    public bool Next(out string flag, out string? inlineValue)
    {
        inlineValue = null;
        if (index >= args.Length)
        {
            flag = "";
            return false;
        }
        flag = args[index++];
        int eq = flag.IndexOf('=');
        if (flag.StartsWith("--", StringComparison.Ordinal) && eq > 2)
        {
            inlineValue = flag[(eq + 1)..];
            flag = flag[..eq];
        }
        return true;
    }

    public string Value(string flag, string? inlineValue)
    {
        if (inlineValue is not null) return inlineValue;
        if (index >= args.Length) throw new UsageException($"{flag} needs a value");
        return args[index++];
    }

    public int Int(string flag, string? inlineValue, int min, int max)
    {
        string v = Value(flag, inlineValue);
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw new UsageException($"{flag} must be an integer between {min} and {max} (got '{v}')");
        return n;
    }

    /// <summary>A byte count with an optional K/M/G/T suffix (powers of 1024).</summary>
    public long Bytes(string flag, string? inlineValue)
    {
        string v = Value(flag, inlineValue).Trim();
        long unit = 1;
        if (v.Length > 0 && char.IsLetter(v[^1]))
        {
            unit = char.ToUpperInvariant(v[^1]) switch
            {
                'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, 'T' => 1L << 40,
                _ => throw new UsageException($"{flag} must be a byte count like 512M or 2G (got '{v}')"),
            };
            v = v[..^1];
        }
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) || n < 0 || n > long.MaxValue / unit)
            throw new UsageException($"{flag} must be a byte count like 512M or 2G (got '{Value(flag, inlineValue)}')");
        return n * unit;
    }
}
