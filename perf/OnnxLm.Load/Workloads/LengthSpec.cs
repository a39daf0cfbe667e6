using System.Globalization;

namespace OnnxLm.Load.Workloads;

/// <summary>
/// A token-length distribution: fixed (<c>128</c>) or uniform over an inclusive range (<c>64:256</c>).
/// Invariant: 1 &lt;= Min &lt;= Max.
/// </summary>
public readonly record struct LengthSpec(int Min, int Max)
{
    public bool IsFixed => Min == Max;

    public int Sample(Random rng) => IsFixed ? Min : rng.Next(Min, Max + 1);

    public static LengthSpec Fixed(int n) => new(n, n);

    /// <summary>Parses <c>N</c> or <c>A:B</c>; throws <see cref="FormatException"/> naming the flag on bad input.</summary>
    public static LengthSpec Parse(string flag, string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0)
        {
            int n = ParsePositive(flag, text);
            return new LengthSpec(n, n);
        }
        int a = ParsePositive(flag, text[..colon]);
        int b = ParsePositive(flag, text[(colon + 1)..]);
        if (b < a) throw new FormatException($"{flag}: range {text} has its maximum below its minimum");
        return new LengthSpec(a, b);
    }

    static int ParsePositive(string flag, string s) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 1
            ? v
            : throw new FormatException($"{flag} expects a positive integer or a range A:B (got '{s}')");

    public override string ToString() => IsFixed
        ? Min.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Min}:{Max}");
}
