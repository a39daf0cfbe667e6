using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// Value readers called by the generated parsers, one per wire shape. Contract: the reader is on the value's first token
/// and is left on its last token; JSON null means "absent" and leaves the target at its reset state; errors carry the
/// path relative to the value (the caller adds the property name). No reader allocates except to build an error.
/// Every string kept or compared is first checked with <see cref="JsonStringText"/>, so no later read of it can throw.
/// </summary>
public static class JsonFieldReader
{
    public static bool TryReadBoolean(ref Utf8JsonReader reader, out bool? value, out RequestParseError error)
    {
        error = default;
        switch (reader.TokenType)
        {
            case JsonTokenType.True: value = true; return true;
            case JsonTokenType.False: value = false; return true;
            case JsonTokenType.Null: value = null; return true;
            default: value = null; error = RequestParseError.Here("must be a boolean"); return false;
        }
    }

    public static bool TryReadInt32(ref Utf8JsonReader reader, out int? value, out RequestParseError error)
    {
        value = null;
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (!TryReadInteger(ref reader, int.MinValue, int.MaxValue, out long wide, out error)) return false;
        value = (int)wide;
        return true;
    }

    public static bool TryReadInt64(ref Utf8JsonReader reader, out long? value, out RequestParseError error)
    {
        value = null;
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (!TryReadInteger(ref reader, long.MinValue, long.MaxValue, out long wide, out error)) return false;
        value = wide;
        return true;
    }

    static bool TryReadInteger(ref Utf8JsonReader reader, long min, long max, out long value, out RequestParseError error)
    {
        error = default;
        if (reader.TokenType != JsonTokenType.Number)
        {
            value = 0;
            error = RequestParseError.Here("must be an integer");
            return false;
        }
        if (reader.TryGetInt64(out value) && value >= min && value <= max) return true;
        // Not a plain integer literal: accept integral spellings such as 1.0 or 1e3 (as Python servers do),
        // and tell "too big" apart from "not an integer".
        bool finite = reader.TryGetDouble(out double d) && double.IsFinite(d);
        if (finite && d == Math.Floor(d))
        {
            // max + 1 is 2^31 or 2^63, exact in a double; "d <= max" would let 2^63 through ((double)long.MaxValue rounds up).
            if (d >= min && d < (double)max + 1.0)
            {
                value = (long)d;
                return true;
            }
            error = RequestParseError.Here(max == int.MaxValue ? "is out of range for a 32-bit integer" : "is out of range for a 64-bit integer");
            return false;
        }
        value = 0;
        error = RequestParseError.Here(finite ? "must be an integer" : "is out of range");
        return false;
    }

    public static bool TryReadSingle(ref Utf8JsonReader reader, out float? value, out RequestParseError error)
    {
        value = null;
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (reader.TokenType != JsonTokenType.Number)
        {
            error = RequestParseError.Here("must be a number");
            return false;
        }
        // TryGetSingle reports success with ±Infinity for 1e39: overflow has to be checked by hand.
        if (!reader.TryGetSingle(out float f) || !float.IsFinite(f))
        {
            error = RequestParseError.Here("is out of range");
            return false;
        }
        value = f;
        return true;
    }

    public static bool TryReadDouble(ref Utf8JsonReader reader, out double? value, out RequestParseError error)
    {
        value = null;
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (reader.TokenType != JsonTokenType.Number)
        {
            error = RequestParseError.Here("must be a number");
            return false;
        }
        if (!reader.TryGetDouble(out double d) || !double.IsFinite(d))
        {
            error = RequestParseError.Here("is out of range");
            return false;
        }
        value = d;
        return true;
    }

    public static bool TryReadString(ref Utf8JsonReader reader, int maxLength, out Utf8Slice value, out RequestParseError error)
    {
        value = default;
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (reader.TokenType != JsonTokenType.String)
        {
            error = RequestParseError.Here("must be a string");
            return false;
        }
        return TrySlice(ref reader, maxLength, out value, out error);
    }

    static bool TrySlice(ref Utf8JsonReader reader, int maxLength, out Utf8Slice value, out RequestParseError error)
    {
        int length = reader.ValueSpan.Length;
        if (maxLength > 0 && length > maxLength)
        {
            value = default;
            error = RequestParseError.Here(string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} bytes long"));
            return false;
        }
        if (JsonStringText.Check(reader.ValueSpan, reader.ValueIsEscaped) is { } problem)
        {
            value = default;
            error = RequestParseError.Here(problem);
            return false;
        }
        // TokenStartIndex is the opening quote; the text starts one byte later.
        value = new Utf8Slice((int)reader.TokenStartIndex + 1, length, reader.ValueIsEscaped);
        error = default;
        return true;
    }

    /// <summary>"A string or an array of strings" (<c>stop</c>).</summary>
    public static bool TryReadStrings(ref Utf8JsonReader reader, Utf8SliceList target, int maxItems, int maxLength, out RequestParseError error)
    {
        error = default;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return true;
            case JsonTokenType.String:
                target.MarkPresent(isArray: false);
                if (!TrySlice(ref reader, maxLength, out var single, out error)) return false;
                target.Add(single);
                return true;
            case JsonTokenType.StartArray:
                target.MarkPresent(isArray: true);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    int index = target.Count;
                    if (maxItems > 0 && index == maxItems) return TooManyItems(maxItems, out error);
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        error = RequestParseError.Here("must be a string").UnderItem(index);
                        return false;
                    }
                    if (!TrySlice(ref reader, maxLength, out var item, out error))
                    {
                        error = error.UnderItem(index);
                        return false;
                    }
                    target.Add(item);
                }
                return true;
            default:
                error = RequestParseError.Here("must be a string or an array of strings");
                return false;
        }
    }

    /// <summary>A message <c>content</c>: a string or an array of <c>{"type":"text","text":"..."}</c> parts.</summary>
    public static bool TryReadTextContent(ref Utf8JsonReader reader, TextContent target, int maxItems, int maxLength, out RequestParseError error)
    {
        error = default;
        var parts = target.Parts;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return true;
            case JsonTokenType.String:
                parts.MarkPresent(isArray: false);
                if (!TrySlice(ref reader, maxLength, out var single, out error)) return false;
                parts.Add(single);
                return true;
            case JsonTokenType.StartArray:
                parts.MarkPresent(isArray: true);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    int index = parts.Count;
                    if (maxItems > 0 && index == maxItems) return TooManyItems(maxItems, out error);
                    if (!TryReadTextPart(ref reader, maxLength, out var text, out error))
                    {
                        error = error.UnderItem(index);
                        return false;
                    }
                    parts.Add(text);
                }
                return true;
            default:
                error = RequestParseError.Here("must be a string or an array of content parts");
                return false;
        }
    }

    static bool TryReadTextPart(ref Utf8JsonReader reader, int maxLength, out Utf8Slice text, out RequestParseError error)
    {
        text = default;
        error = default;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = RequestParseError.Here("must be an object");
            return false;
        }
        bool sawType = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (NameEquals(ref reader, "type"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = RequestParseError.At("type", "must be a string");
                    return false;
                }
                if (JsonStringText.Check(reader.ValueSpan, reader.ValueIsEscaped) is { } problem)
                {
                    error = RequestParseError.At("type", problem);
                    return false;
                }
                if (!reader.ValueTextEquals("text"u8))
                {
                    // Error path only: the type's text is allocated for the message.
                    error = RequestParseError.At("type", $"'{reader.GetString()}' is not supported (only \"text\" content parts are)");
                    return false;
                }
                sawType = true;
            }
            else if (NameEquals(ref reader, "text"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = RequestParseError.At("text", "must be a string");
                    return false;
                }
                if (!TrySlice(ref reader, maxLength, out text, out error))
                {
                    error = error.Under("text");
                    return false;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (!sawType)
        {
            error = RequestParseError.At("type", "is required");
            return false;
        }
        if (!text.HasValue)
        {
            error = RequestParseError.At("text", "is required");
            return false;
        }
        return true;
    }

    /// <summary><c>logit_bias</c>: an object from token ids (as decimal strings) to numbers.</summary>
    public static bool TryReadTokenBias(ref Utf8JsonReader reader, TokenBiasMap target, int maxItems, out RequestParseError error)
    {
        error = default;
        if (reader.TokenType == JsonTokenType.Null) return true;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = RequestParseError.Here("must be an object mapping token ids to numbers");
            return false;
        }
        target.MarkPresent();
        Span<byte> unescaped = stackalloc byte[32];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (maxItems > 0 && target.Count == maxItems) return TooManyItems(maxItems, out error);
            scoped ReadOnlySpan<byte> key = reader.ValueSpan;
            // A key that is not text (bad UTF-8, an unpaired surrogate escape) cannot be unescaped or shown; it is no token id.
            bool isText = JsonStringText.Check(key, reader.ValueIsEscaped) is null;
            if (!isText) key = [];
            else if (reader.ValueIsEscaped)
                key = key.Length <= 6 * unescaped.Length ? unescaped[..reader.CopyString(unescaped)] : [];
            if (!Utf8Parser.TryParse(key, out int token, out int consumed) || consumed != key.Length || token < 0)
            {
                error = RequestParseError.Here(isText
                    ? $"keys must be token ids (non-negative integers), not '{reader.GetString()}'"
                    : "keys must be token ids (non-negative integers)");
                return false;
            }
            reader.Read();
            if (!TryReadSingle(ref reader, out float? bias, out error) || bias is not { } b)
            {
                error = RequestParseError.Here("values must be numbers");
                return false;
            }
            target.Add(token, b);
        }
        return true;
    }

    /// <summary>A completions <c>prompt</c>: a string, an array of strings or an array of token ids.</summary>
    public static bool TryReadPrompt(ref Utf8JsonReader reader, PromptInput target, int maxItems, int maxLength, out RequestParseError error)
    {
        error = default;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return true;
            case JsonTokenType.String:
                target.SetKind(PromptKind.Text);
                if (!TrySlice(ref reader, maxLength, out var single, out error)) return false;
                target.Texts.Add(single);
                return true;
            case JsonTokenType.StartArray:
                int index = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (maxItems > 0 && index == maxItems) return TooManyItems(maxItems, out error);
                    if (index == 0) target.SetKind(reader.TokenType == JsonTokenType.Number ? PromptKind.Tokens : PromptKind.Texts);
                    if (!TryReadPromptItem(ref reader, target, maxLength, out error))
                    {
                        error = error.UnderItem(index);
                        return false;
                    }
                    index++;
                }
                if (index == 0) target.SetKind(PromptKind.Texts);
                return true;
            default:
                error = RequestParseError.Here("must be a string, an array of strings or an array of token ids");
                return false;
        }
    }

    static bool TryReadPromptItem(ref Utf8JsonReader reader, PromptInput target, int maxLength, out RequestParseError error)
    {
        error = default;
        if (target.Kind == PromptKind.Tokens)
        {
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                error = RequestParseError.Here("batches of token arrays are not supported");
                return false;
            }
            if (reader.TokenType != JsonTokenType.Number || !TryReadInteger(ref reader, 0, int.MaxValue, out long token, out _))
            {
                error = RequestParseError.Here("must be a token id (a non-negative integer)");
                return false;
            }
            target.AddToken((int)token);
            return true;
        }
        if (reader.TokenType != JsonTokenType.String)
        {
            error = RequestParseError.Here(reader.TokenType == JsonTokenType.StartArray ? "batches of token arrays are not supported" : "must be a string");
            return false;
        }
        if (!TrySlice(ref reader, maxLength, out var text, out error)) return false;
        target.Texts.Add(text);
        return true;
    }

    /// <summary>Steps over any value, recording where it is and whether it is one of the "off" values.</summary>
    public static bool TryReadRaw(ref Utf8JsonReader reader, out RawJson value, out RequestParseError error)
    {
        error = default;
        var type = reader.TokenType;
        int start = (int)reader.TokenStartIndex;
        bool isEmpty;
        switch (type)
        {
            case JsonTokenType.Null:
                value = default;
                return true;
            case JsonTokenType.StartArray or JsonTokenType.StartObject:
                reader.Read();
                isEmpty = reader.TokenType is JsonTokenType.EndArray or JsonTokenType.EndObject;
                // Skip each child (a nested container as a whole) until our own end token.
                while (reader.TokenType is not (JsonTokenType.EndArray or JsonTokenType.EndObject))
                {
                    reader.Skip();
                    reader.Read();
                }
                break;
            case JsonTokenType.String:
                isEmpty = reader.ValueSpan.IsEmpty;
                break;
            case JsonTokenType.Number:
                isEmpty = reader.TryGetDouble(out double d) && d == 0;
                break;
            default:
                isEmpty = type == JsonTokenType.False;
                break;
        }
        // BytesConsumed is just past the value's last token (the closing bracket, quote or last digit).
        value = new RawJson(start, (int)reader.BytesConsumed - start, type, isEmpty);
        return true;
    }

    /// <summary>Checks the value opens an object (null means absent). For the generated nested-object readers.</summary>
    public static bool TryStartObject(ref Utf8JsonReader reader, out bool isNull, out RequestParseError error)
    {
        error = default;
        isNull = reader.TokenType == JsonTokenType.Null;
        if (isNull || reader.TokenType == JsonTokenType.StartObject) return true;
        error = RequestParseError.Here("must be an object");
        return false;
    }

    /// <summary>Checks the value opens an array (null means absent). For the generated list readers.</summary>
    public static bool TryStartArray(ref Utf8JsonReader reader, out bool isNull, out RequestParseError error)
    {
        error = default;
        isNull = reader.TokenType == JsonTokenType.Null;
        if (isNull || reader.TokenType == JsonTokenType.StartArray) return true;
        error = RequestParseError.Here("must be an array");
        return false;
    }

    /// <summary>Whether the property name the reader is on is <paramref name="name"/>; a name that is not text never is.</summary>
    static bool NameEquals(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        if (!reader.ValueIsEscaped) return reader.ValueSpan.SequenceEqual(name);
        return JsonStringText.Check(reader.ValueSpan, escaped: true) is null && reader.ValueTextEquals(name);
    }

    /// <summary>
    /// Unescapes the property name the reader is on into <paramref name="scratch"/> for the generated field matchers.
    /// Returns the length, or -1 when the name cannot be a known one: longer than <paramref name="scratch"/> (as written),
    /// or not text (an unpaired surrogate escape would make the reader throw).
    /// </summary>
    public static int UnescapeName(ref Utf8JsonReader reader, scoped Span<byte> scratch)
    {
        var raw = reader.ValueSpan;
        if (raw.Length > scratch.Length || JsonStringText.Check(raw, reader.ValueIsEscaped) is not null) return -1;
        return reader.CopyString(scratch);
    }

    public static bool TooManyItems(int maxItems, out RequestParseError error)
    {
        error = RequestParseError.Here(string.Create(CultureInfo.InvariantCulture, $"must have at most {maxItems} items"));
        return false;
    }
}
