using System.Buffers.Binary;
using System.Text.Json;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>
/// An independent reader written from the safetensors specification only (no code shared with the writer): u64 LE
/// header size N, N bytes of UTF-8 JSON starting with '{' (trailing spaces allowed), tensors as name → {dtype, shape,
/// data_offsets [begin, end)} relative to the byte buffer after the header, covering it exactly with no holes or
/// overlaps, and an optional "__metadata__" string → string map.
/// </summary>
internal static class MinimalSafetensorsReader
{
    internal sealed record Tensor(string Dtype, long[] Shape, byte[] Data);

    static int DtypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new FormatException($"unknown dtype {dtype}"),
    };

    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(byte[] file)
    {
        if (file.Length < 8) throw new FormatException("shorter than the size prefix");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n > (ulong)(file.Length - 8)) throw new FormatException("header size beyond the file");
        var headerBytes = file.AsSpan(8, (int)n);
        if (headerBytes.Length == 0 || headerBytes[0] != (byte)'{') throw new FormatException("header must start with '{'");
        using var doc = JsonDocument.Parse(headerBytes.ToArray());
        var data = file.AsSpan(8 + (int)n);
        var tensors = new Dictionary<string, Tensor>();
        var metadata = new Dictionary<string, string>();
        var ranges = new List<(long Begin, long End)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? throw new FormatException("metadata value not a string");
                continue;
            }
            string dtype = p.Value.GetProperty("dtype").GetString()!;
            long[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long[] offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] > offsets[1] || offsets[1] > data.Length) throw new FormatException($"bad offsets for {p.Name}");
            long elements = shape.Aggregate(1L, (a, b) => a * b);
            if (elements * DtypeSize(dtype) != offsets[1] - offsets[0]) throw new FormatException($"{p.Name}: shape and offsets disagree");
            ranges.Add((offsets[0], offsets[1]));
            tensors[p.Name] = new Tensor(dtype, shape, data[(int)offsets[0]..(int)offsets[1]].ToArray());
        }
        ranges.Sort();
        long at = 0;
        foreach (var (b, e) in ranges)
        {
            if (b != at) throw new FormatException("hole or overlap in the byte buffer");
            at = e;
        }
        if (at != data.Length) throw new FormatException("byte buffer not fully indexed");
        return (tensors, metadata);
    }
}
