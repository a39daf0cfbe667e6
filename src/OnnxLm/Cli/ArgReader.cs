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
}
