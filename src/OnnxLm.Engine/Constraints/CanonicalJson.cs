using System.Buffers;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Engine.Constraints;

/// <summary>
/// The one serialization the constrained decoder produces for a fixed value (enum/const literals, property keys):
/// minified, members in their given order, numbers as written, strings with only <c>"</c>, <c>\</c> and control
/// characters escaped (short forms where JSON has them, else <c>\u00xx</c>) and everything else as raw UTF-8.
/// </summary>
public static class CanonicalJson
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Serialize(JsonElement value)
    {
        var writer = new ArrayBufferWriter<byte>(64);
        Write(value, writer);
        return writer.WrittenSpan.ToArray();
    }

    public static void Write(JsonElement value, ArrayBufferWriter<byte> writer)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                Append(writer, "{"u8);
                bool first = true;
                foreach (JsonProperty property in value.EnumerateObject())
                {
                    if (!first)
                    {
                        Append(writer, ","u8);
                    }
                    first = false;
                    Append(writer, "\""u8);
                    Append(writer, EscapeString(property.Name));
                    Append(writer, "\":"u8);
                    Write(property.Value, writer);
                }
                Append(writer, "}"u8);
                break;
            case JsonValueKind.Array:
                Append(writer, "["u8);
                bool firstItem = true;
                foreach (JsonElement item in value.EnumerateArray())
                {
                    if (!firstItem)
                    {
                        Append(writer, ","u8);
                    }
                    firstItem = false;
                    Write(item, writer);
                }
                Append(writer, "]"u8);
                break;
            case JsonValueKind.String:
                Append(writer, "\""u8);
                Append(writer, EscapeString(value.GetString()!));
                Append(writer, "\""u8);
                break;
            default:
                Append(writer, Encoding.UTF8.GetBytes(value.GetRawText()));
                break;
        }
    }

    /// <summary>The JSON-escaped UTF-8 of <paramref name="text"/>, without quotes.</summary>
    public static byte[] EscapeString(string text)
    {
        var writer = new ArrayBufferWriter<byte>(text.Length + 8);
        byte[] utf8 = StrictUtf8.GetBytes(text); // a lone surrogate throws: no value is silently replaced
        foreach (byte b in utf8)
        {
            ReadOnlySpan<byte> escaped = b switch
            {
                (byte)'"' => "\\\""u8,
                (byte)'\\' => "\\\\"u8,
                (byte)'\b' => "\\b"u8,
                (byte)'\f' => "\\f"u8,
                (byte)'\n' => "\\n"u8,
                (byte)'\r' => "\\r"u8,
                (byte)'\t' => "\\t"u8,
                _ => default,
            };
            if (!escaped.IsEmpty)
            {
                Append(writer, escaped);
            }
            else if (b < 0x20)
            {
                Append(writer, Encoding.ASCII.GetBytes($"\\u{b:x4}"));
            }
            else
            {
                writer.GetSpan(1)[0] = b;
                writer.Advance(1);
            }
        }
        return writer.WrittenSpan.ToArray();
    }

    private static void Append(ArrayBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
    }
}
