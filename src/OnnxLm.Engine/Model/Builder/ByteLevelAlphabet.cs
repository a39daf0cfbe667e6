namespace OnnxLm.Engine.Model.Builder;

/// <summary>
/// GPT-2's byte-to-unicode map used by HF <c>ByteLevel</c> pre-tokenizers/decoders: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 onward in byte order. A bijection, so every byte string has exactly one
/// symbol string.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = CreateMap();

    public static char Symbol(byte b) => ByteToChar[b];

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (chars, source) =>
        {
            for (int i = 0; i < source.Length; i++)
                chars[i] = ByteToChar[source[i]];
        });
    }

    private static char[] CreateMap()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
