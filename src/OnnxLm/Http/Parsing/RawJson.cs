using System.Text.Json;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// A value the parser only steps over (<c>tools</c>, <c>tool_choice</c>, refused parameters): where it is in the request
/// buffer and whether it is "empty" (false, 0, "", [] or {}), so a later, specialised reader can look at it.
/// Absent and null both leave the default (no value).
/// </summary>
public readonly struct RawJson
{
    public RawJson(int start, int length, JsonTokenType tokenType, bool isEmpty)
    {
        Start = start;
        Length = length;
        TokenType = tokenType;
        IsEmpty = isEmpty;
    }

    /// <summary>Offset of the value's first byte (the quote, bracket or first digit).</summary>
    public int Start { get; }

    /// <summary>Length of the whole value as written.</summary>
    public int Length { get; }

    /// <summary>The value's first token (String, Number, True, False, StartObject, StartArray).</summary>
    public JsonTokenType TokenType { get; }

    /// <summary>True for false, 0, "", [] and {}: the values clients send to mean "off".</summary>
    public bool IsEmpty { get; }

    /// <summary>False when the property was absent or null.</summary>
    public bool HasValue => Length != 0;

    /// <summary>True when present with a value other than the "off" values.</summary>
    public bool IsSet => HasValue && !IsEmpty;

    public ReadOnlySpan<byte> RawBytes(ReadOnlySpan<byte> json) => json.Slice(Start, Length);
}
