using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Engine.Cache;

/// <summary>
/// One KV block as a safetensors file: an 8-byte little-endian header length, a JSON header (space-padded so the
/// payload starts 64-byte aligned) with the tensors and a <c>__metadata__</c> map, then the payload. Lossless blocks are
/// one tensor <c>kv</c> [layers, 2, kv_heads, block_size, head_size] in the model's dtype — byte for byte the pool's
/// layout. Int8 blocks are <c>kv_values</c> I8 [layers, 2, kv_heads, block_size, head_size] then <c>kv_scales</c> F32
/// [layers, 2, kv_heads, groups]: the pool interleaves values and scales per slab, the file gathers them so any
/// safetensors tool sees two plain tensors. The metadata names the block (hash, parent, tokens), the model fingerprint,
/// the layout, the format version and the XxHash128 of the payload; a reader accepts a file only if every one matches.
/// </summary>
internal static class KvBlockFile
{
    public const string Extension = ".safetensors";
    public const string FormatName = "onnxlm-kv-block";
    public const string FormatVersion = "1";
    const int Alignment = 64;
    /// <summary>A header longer than this is corrupt (a real one is a few hundred bytes plus ~7 bytes per token).</summary>
    public const int MaxHeaderBytes = 1 << 20;

    public static string LayoutText(KvBlockLayout l) =>
        $"layers={l.Layers},kv_heads={l.KvHeads},head_size={l.HeadSize},block_size={l.BlockSize},element_size={l.ElementSize},bits={l.Bits},group_size={l.GroupSize}";

    static string ValueDtype(KvBlockLayout l) => l.Quantized ? "I8" : l.ElementSize == 4 ? "F32" : "F16";

    static long ValuesBytes(KvBlockLayout l) => l.Quantized ? (long)l.Slabs * l.SlabValues : l.BlockBytes;

    /// <summary>
    /// Writes the 8-byte length, the JSON header and its padding into <paramref name="output"/> (reused, so steady state
    /// allocates nothing beyond the writer's own buffers).
    /// </summary>
    public static void WriteHeader(ArrayBufferWriter<byte> output, ArrayBufferWriter<byte> jsonBuffer, ref Utf8JsonWriter? json,
        KvBlockLayout layout, string layoutText, UInt128 fingerprint, UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, UInt128 checksum)
    {
        jsonBuffer.ResetWrittenCount();
        if (json is null) json = new Utf8JsonWriter(jsonBuffer);
        else json.Reset(jsonBuffer);
        Span<char> hex = stackalloc char[32];
        json.WriteStartObject();
        json.WriteStartObject("__metadata__");
        json.WriteString("format"u8, FormatName);
        json.WriteString("format_version"u8, FormatVersion);
        json.WriteString("block_hash"u8, Hex(hash, hex));
        json.WriteString("parent_hash"u8, Hex(parent, hex));
        json.WriteString("model_fingerprint"u8, Hex(fingerprint, hex));
        json.WriteString("block_size"u8, layout.BlockSize.ToString(CultureInfo.InvariantCulture));
        json.WriteString("layout"u8, layoutText);
        json.WriteString("tokens"u8, FormatTokens(tokens));
        json.WriteString("payload_xxh128"u8, Hex(checksum, hex));
        json.WriteEndObject();
        long values = ValuesBytes(layout);
        WriteTensor(json, layout.Quantized ? "kv_values" : "kv", ValueDtype(layout), [layout.Layers, 2, layout.KvHeads, layout.BlockSize, layout.HeadSize], 0, values);
        if (layout.Quantized)
            WriteTensor(json, "kv_scales", "F32", [layout.Layers, 2, layout.KvHeads, layout.GroupsPerSlab], values, layout.BlockBytes);
        json.WriteEndObject();
        json.Flush();

        int jsonLength = jsonBuffer.WrittenCount;
        int padded = (8 + jsonLength + Alignment - 1) / Alignment * Alignment - 8;
        output.ResetWrittenCount();
        var span = output.GetSpan(8 + padded);
        BinaryPrimitives.WriteUInt64LittleEndian(span, (ulong)padded);
        jsonBuffer.WrittenSpan.CopyTo(span[8..]);
        span.Slice(8 + jsonLength, padded - jsonLength).Fill((byte)' ');
        output.Advance(8 + padded);
    }

    static ReadOnlySpan<char> Hex(UInt128 value, Span<char> buffer)
    {
        value.TryFormat(buffer, out _, "x32", CultureInfo.InvariantCulture);
        return buffer;
    }

    static string FormatTokens(ReadOnlySpan<int> tokens)
    {
        var sb = new StringBuilder(tokens.Length * 7);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(tokens[i].ToString(CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    static void WriteTensor(Utf8JsonWriter json, string name, string dtype, ReadOnlySpan<int> shape, long begin, long end)
    {
        json.WriteStartObject(name);
        json.WriteString("dtype"u8, dtype);
        json.WriteStartArray("shape"u8);
        foreach (int d in shape) json.WriteNumberValue(d);
        json.WriteEndArray();
        json.WriteStartArray("data_offsets"u8);
        json.WriteNumberValue(begin);
        json.WriteNumberValue(end);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>Pool layout → file layout (int8: values of every slab, then scales of every slab; lossless: a copy).</summary>
    public static void ToFileOrder(KvBlockLayout l, ReadOnlySpan<byte> pool, Span<byte> file)
    {
        if (!l.Quantized)
        {
            pool[..(int)l.BlockBytes].CopyTo(file);
            return;
        }
        int valuesTotal = l.Slabs * l.SlabValues, scaleBytes = 4 * l.GroupsPerSlab;
        for (int s = 0; s < l.Slabs; s++)
        {
            var slab = pool.Slice(s * l.SlabBytes, l.SlabBytes);
            slab[..l.SlabValues].CopyTo(file[(s * l.SlabValues)..]);
            slab[l.SlabValues..].CopyTo(file[(valuesTotal + s * scaleBytes)..]);
        }
    }

    /// <summary>File layout → pool layout (the inverse of <see cref="ToFileOrder"/>).</summary>
    public static void ToPoolOrder(KvBlockLayout l, ReadOnlySpan<byte> file, Span<byte> pool)
    {
        if (!l.Quantized)
        {
            file[..(int)l.BlockBytes].CopyTo(pool);
            return;
        }
        int valuesTotal = l.Slabs * l.SlabValues, scaleBytes = 4 * l.GroupsPerSlab;
        for (int s = 0; s < l.Slabs; s++)
        {
            var slab = pool.Slice(s * l.SlabBytes, l.SlabBytes);
            file.Slice(s * l.SlabValues, l.SlabValues).CopyTo(slab);
            file.Slice(valuesTotal + s * scaleBytes, scaleBytes).CopyTo(slab[l.SlabValues..]);
        }
    }

    [Flags]
    enum Seen
    {
        None = 0, Format = 1, Version = 2, Hash = 4, Parent = 8, Fingerprint = 16, BlockSize = 32, Layout = 64, Tokens = 128,
        Checksum = 256, Values = 512, Scales = 1024,
        Metadata = Format | Version | Hash | Parent | Fingerprint | BlockSize | Layout | Tokens | Checksum,
    }

    /// <summary>
    /// Parses a header (the JSON after the length prefix) and accepts it only if it describes exactly this block of this
    /// model in this layout; returns the payload checksum it declares. Any malformed or unexpected content is a rejection.
    /// </summary>
    public static bool TryVerifyHeader(ReadOnlySpan<byte> header, KvBlockLayout layout, string layoutText, UInt128 fingerprint,
        UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, out UInt128 checksum)
    {
        checksum = default;
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            var seen = Seen.None;
            long values = ValuesBytes(layout);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("__metadata__"u8))
                {
                    if ((seen & Seen.Metadata) != 0 || !ReadMetadata(ref reader, layout, layoutText, fingerprint, hash, parent, tokens, ref seen, out checksum))
                        return false;
                }
                else if (reader.ValueTextEquals(layout.Quantized ? "kv_values"u8 : "kv"u8))
                {
                    if ((seen & Seen.Values) != 0 || !ReadTensor(ref reader, ValueDtype(layout), [layout.Layers, 2, layout.KvHeads, layout.BlockSize, layout.HeadSize], 0, values))
                        return false;
                    seen |= Seen.Values;
                }
                else if (layout.Quantized && reader.ValueTextEquals("kv_scales"u8))
                {
                    if ((seen & Seen.Scales) != 0 || !ReadTensor(ref reader, "F32", [layout.Layers, 2, layout.KvHeads, layout.GroupsPerSlab], values, layout.BlockBytes))
                        return false;
                    seen |= Seen.Scales;
                }
                else return false;
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return false;   // only padding may follow
            var required = Seen.Metadata | Seen.Values | (layout.Quantized ? Seen.Scales : Seen.None);
            return seen == required;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    static bool ReadMetadata(ref Utf8JsonReader reader, KvBlockLayout layout, string layoutText, UInt128 fingerprint,
        UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, ref Seen seen, out UInt128 checksum)
    {
        checksum = default;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            Seen key =
                reader.ValueTextEquals("format"u8) ? Seen.Format :
                reader.ValueTextEquals("format_version"u8) ? Seen.Version :
                reader.ValueTextEquals("block_hash"u8) ? Seen.Hash :
                reader.ValueTextEquals("parent_hash"u8) ? Seen.Parent :
                reader.ValueTextEquals("model_fingerprint"u8) ? Seen.Fingerprint :
                reader.ValueTextEquals("block_size"u8) ? Seen.BlockSize :
                reader.ValueTextEquals("layout"u8) ? Seen.Layout :
                reader.ValueTextEquals("tokens"u8) ? Seen.Tokens :
                reader.ValueTextEquals("payload_xxh128"u8) ? Seen.Checksum : Seen.None;
            if (!reader.Read() || reader.TokenType != JsonTokenType.String) return false;
            if (key == Seen.None) continue;   // other tools may add metadata
            if ((seen & key) != 0 || (reader.ValueIsEscaped && key is not (Seen.Layout or Seen.Format))) return false;
            var value = reader.ValueSpan;
            bool ok = key switch
            {
                Seen.Format => reader.ValueTextEquals(FormatName),
                Seen.Version => reader.ValueTextEquals(FormatVersion),
                Seen.Hash => TryParseHex(value, out var h) && h == hash,
                Seen.Parent => TryParseHex(value, out var p) && p == parent,
                Seen.Fingerprint => TryParseHex(value, out var f) && f == fingerprint,
                Seen.BlockSize => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int bs) && bs == layout.BlockSize,
                Seen.Layout => reader.ValueTextEquals(layoutText),
                Seen.Tokens => TokensEqual(value, tokens),
                Seen.Checksum => TryParseHex(value, out checksum),
                _ => false,
            };
            if (!ok) return false;
            seen |= key;
        }
        return reader.TokenType == JsonTokenType.EndObject && (seen & Seen.Metadata) == Seen.Metadata;
    }

    static bool TryParseHex(ReadOnlySpan<byte> text, out UInt128 value)
    {
        value = default;
        return text.Length == 32 && UInt128.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    static bool TokensEqual(ReadOnlySpan<byte> text, ReadOnlySpan<int> tokens)
    {
        int i = 0;
        while (true)
        {
            int comma = text.IndexOf((byte)',');
            var item = comma < 0 ? text : text[..comma];
            if (i >= tokens.Length || !int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int t) || t != tokens[i]) return false;
            i++;
            if (comma < 0) return i == tokens.Length;
            text = text[(comma + 1)..];
        }
    }

    static bool ReadTensor(ref Utf8JsonReader reader, string dtype, scoped ReadOnlySpan<int> shape, long begin, long end)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
        int seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("dtype"u8))
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals(dtype)) return false;
                seen |= 1;
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                if (!ReadLongs(ref reader, shape.Length, out var dims)) return false;
                for (int i = 0; i < shape.Length; i++) if (dims[i] != shape[i]) return false;
                seen |= 2;
            }
            else if (reader.ValueTextEquals("data_offsets"u8))
            {
                if (!ReadLongs(ref reader, 2, out var offsets) || offsets[0] != begin || offsets[1] != end) return false;
                seen |= 4;
            }
            else return false;
        }
        return reader.TokenType == JsonTokenType.EndObject && seen == 7;
    }

    static bool ReadLongs(ref Utf8JsonReader reader, int count, out long[] values)
    {
        values = new long[count];
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray) return false;
        int n = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.Number)
        {
            if (n == count || !reader.TryGetInt64(out values[n])) return false;
            n++;
        }
        return reader.TokenType == JsonTokenType.EndArray && n == count;
    }
}
