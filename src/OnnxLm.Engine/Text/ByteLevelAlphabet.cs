namespace OnnxLm.Engine.Text;

/// <summary>
/// GPT-2's byte↔unicode map, as used by every <c>ByteLevel</c> tokenizer (GPT-2, Llama-3, Qwen): printable Latin-1 bytes
/// (33..126, 161..172, 174..255) stand for themselves; the other 68 bytes are shifted, in order, to U+0100..U+0143.
/// Invariant: <see cref="TryGetByte"/> is the exact inverse of that map and knows no other character.
/// </summary>
internal static class ByteLevelAlphabet
{
    // Highest character the map produces is U+0143 (256 + 67); one short per character keeps the table 648 bytes.
    private const int TableSize = 256 + 68;

    private static readonly short[] CharToByte = BuildCharToByte();

    public static bool TryGetByte(char c, out byte value)
    {
        if (c < TableSize)
        {
            short b = CharToByte[c];
            if (b >= 0)
            {
                value = (byte)b;
                return true;
            }
        }
        value = 0;
        return false;
    }

    /// <summary>The character GPT-2 uses to spell <paramref name="value"/> inside vocabulary strings.</summary>
    public static char ToChar(byte value)
    {
        if (IsSelfMapped(value))
        {
            return (char)value;
        }
        // Shifted bytes are numbered in ascending byte order among the non-self-mapped ones.
        int n = 0;
        for (int b = 0; b < value; b++)
        {
            if (!IsSelfMapped((byte)b))
            {
                n++;
            }
        }
        return (char)(256 + n);
    }

    private static bool IsSelfMapped(byte b) => b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174;

    private static short[] BuildCharToByte()
    {
        var table = new short[TableSize];
        Array.Fill(table, (short)-1);
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            int c = IsSelfMapped((byte)b) ? b : 256 + shifted++;
            table[c] = (short)b;
        }
        return table;
    }
}
