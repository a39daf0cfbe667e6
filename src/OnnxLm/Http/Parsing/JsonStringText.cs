using System.Text.Unicode;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// Whether a JSON string token, as written between its quotes, denotes usable text: valid UTF-8, and <c>\u</c> escapes
/// that form well-formed UTF-16 (every surrogate paired). Utf8JsonReader checks neither while reading; it throws
/// InvalidOperationException later, when the value is unescaped or transcoded. Every string the parsers keep is checked
/// here once, so reading it afterwards cannot throw, and the error names the field instead of becoming a 500.
/// </summary>
public static class JsonStringText
{
    public const string InvalidUtf8 = "is not valid UTF-8 text";
    public const string UnpairedSurrogate = "contains an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF), which is not text";

    /// <summary>Null when the token is usable text, otherwise why not (an error detail, without the field's path).</summary>
    /// <param name="raw">The bytes between the quotes, escapes included (the reader has already checked escape syntax).</param>
    /// <param name="escaped">Whether <paramref name="raw"/> holds any backslash escape.</param>
    public static string? Check(ReadOnlySpan<byte> raw, bool escaped)
    {
        // Escapes are ASCII, so the raw bytes are valid UTF-8 exactly when the literal parts are. One vectorized pass.
        if (!Utf8.IsValid(raw)) return InvalidUtf8;
        return escaped && HasUnpairedSurrogate(raw) ? UnpairedSurrogate : null;
    }

    /// <summary>Walks the escapes only (IndexOf jumps between them): a high surrogate must be followed at once by an
    /// escaped low one, and a low one may never come first.</summary>
    static bool HasUnpairedSurrogate(ReadOnlySpan<byte> raw)
    {
        int i = raw.IndexOf((byte)'\\');
        while (i >= 0)
        {
            // The reader guarantees a valid escape: '\' then one of "\/bfnrt" or 'u' and four hex digits.
            if (raw[i + 1] != (byte)'u')
            {
                i += 2;
            }
            else
            {
                int unit = Hex4(raw.Slice(i + 2, 4));
                i += 6;
                if (unit is >= 0xDC00 and <= 0xDFFF) return true;
                if (unit is >= 0xD800 and <= 0xDBFF)
                {
                    if (raw.Length - i < 6 || raw[i] != (byte)'\\' || raw[i + 1] != (byte)'u' || Hex4(raw.Slice(i + 2, 4)) is not (>= 0xDC00 and <= 0xDFFF))
                        return true;
                    i += 6;
                }
            }
            if (i >= raw.Length) return false;
            int next = raw[i..].IndexOf((byte)'\\');
            if (next < 0) return false;
            i += next;
        }
        return false;
    }

    static int Hex4(ReadOnlySpan<byte> digits)
    {
        int value = 0;
        foreach (byte b in digits)
        {
            // Only hex digits reach here; (b | 0x20) folds 'A'-'F' onto 'a'-'f'.
            int nibble = b <= (byte)'9' ? b - '0' : (b | 0x20) - 'a' + 10;
            value = (value << 4) | nibble;
        }
        return value;
    }
}
