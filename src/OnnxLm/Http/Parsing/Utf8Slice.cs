using System.Text;
using System.Text.Json;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// A JSON string value left in the request buffer: bytes [<see cref="Start"/>, <see cref="Start"/> + <see cref="Length"/>)
/// are the text between the quotes, still JSON-escaped when <see cref="NeedsUnescape"/>. Parsing never copies text; the
/// consumer (tokenizer, role check) reads it in place and unescapes only when it must. Only valid with the buffer it
/// was parsed from. The parsers create a slice only for text that passed <see cref="JsonStringText.Check"/>, so
/// unescaping or decoding it never throws.
/// </summary>
public readonly struct Utf8Slice
{
    const byte PresentFlag = 1, EscapedFlag = 2;
    readonly int start;
    readonly int length;
    readonly byte flags;

    public Utf8Slice(int start, int length, bool needsUnescape)
    {
        this.start = start;
        this.length = length;
        flags = (byte)(PresentFlag | (needsUnescape ? EscapedFlag : 0));
    }

    /// <summary>False when the property was absent or null.</summary>
    public bool HasValue => flags != 0;
    public int Start => start;
    /// <summary>Length of the text as written (escapes included); the unescaped text is never longer.</summary>
    public int Length => length;
    public bool NeedsUnescape => (flags & EscapedFlag) != 0;

    /// <summary>The bytes as written in the JSON, escapes included.</summary>
    public ReadOnlySpan<byte> RawBytes(ReadOnlySpan<byte> json) => json.Slice(start, length);

    /// <summary>Writes the unescaped UTF-8 text into <paramref name="destination"/> (at least <see cref="Length"/> bytes).</summary>
    public int CopyUnescaped(ReadOnlySpan<byte> json, Span<byte> destination)
    {
        if (!NeedsUnescape)
        {
            RawBytes(json).CopyTo(destination);
            return length;
        }
        // Re-read the quoted token: the reader's unescaper is the one that validated it, so the two cannot disagree.
        var reader = new Utf8JsonReader(json.Slice(start - 1, length + 2));
        reader.Read();
        return reader.CopyString(destination);
    }

    /// <summary>The unescaped text: in place when nothing is escaped, otherwise in <paramref name="scratch"/>
    /// (valid until its next use).</summary>
    public ReadOnlySpan<byte> GetUtf8(ReadOnlySpan<byte> json, UnescapeBuffer scratch)
        => NeedsUnescape ? scratch.Unescape(json, this) : RawBytes(json);

    /// <summary>Allocates the text as a string (error messages, rare paths).</summary>
    public string GetString(ReadOnlySpan<byte> json)
    {
        if (!HasValue) return "";
        if (!NeedsUnescape) return Encoding.UTF8.GetString(RawBytes(json));
        var reader = new Utf8JsonReader(json.Slice(start - 1, length + 2));
        reader.Read();
        return reader.GetString()!;
    }

    /// <summary>Compares the unescaped text with <paramref name="utf8"/> without allocating.</summary>
    public bool ValueEquals(ReadOnlySpan<byte> json, ReadOnlySpan<byte> utf8)
    {
        if (!HasValue) return false;
        if (!NeedsUnescape) return RawBytes(json).SequenceEqual(utf8);
        if (length > 256) return ValueEqualsLong(json, utf8);
        Span<byte> text = stackalloc byte[256];
        return text[..CopyUnescaped(json, text)].SequenceEqual(utf8);
    }

    bool ValueEqualsLong(ReadOnlySpan<byte> json, ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(json.Slice(start - 1, length + 2));
        reader.Read();
        return reader.ValueTextEquals(utf8);
    }
}
