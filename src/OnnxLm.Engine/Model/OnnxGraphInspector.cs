using System.Text;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Reads just enough of an ONNX <c>ModelProto</c> to check the model contract: the op types of the main graph's nodes,
/// the attributes of its GroupQueryAttention nodes and the shapes of initializers they use. It walks the protobuf wire
/// format over a seekable stream and skips tensor payloads, so a multi-GB file with embedded weights costs a few MB of reads.
/// </summary>
public sealed class OnnxGraphInspector
{
    public sealed record AttentionNode(string OpType, long NumHeads, long KvNumHeads, long DoRotary, string[] Inputs, string[] Outputs);

    public HashSet<string> OpTypes { get; } = new(StringComparer.Ordinal);
    public List<AttentionNode> GroupQueryAttention { get; } = [];
    public Dictionary<string, long[]> InitializerDims { get; } = new(StringComparer.Ordinal);
    /// <summary>ONNX element type (TensorProto.DataType: 1 float, 10 float16) of each tensor-typed graph input.</summary>
    public Dictionary<string, int> InputElementTypes { get; } = new(StringComparer.Ordinal);

    public static OnnxGraphInspector Read(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var inspector = new OnnxGraphInspector();
        var r = new Reader(fs);
        try
        {
            bool sawGraph = false;
            while (r.Position < fs.Length)
            {
                var (field, wire) = r.Tag();
                if (field == 7 && wire == 2)
                {
                    inspector.ReadGraph(r, r.End());
                    sawGraph = true;
                }
                else r.Skip(wire);
            }
            if (!sawGraph) throw new ModelFormatException($"{path} holds no graph (not an ONNX model)");
        }
        catch (EndOfStreamException)
        {
            throw new ModelFormatException($"{path} is truncated or not an ONNX model");
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException($"{path} is not a valid ONNX model: {e.Message}");
        }
        return inspector;
    }

    void ReadGraph(Reader r, long end)
    {
        while (r.Position < end)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2) ReadNode(r, r.End());
            else if (field == 5 && wire == 2) ReadInitializer(r, r.End());
            else if (field == 11 && wire == 2) ReadInput(r, r.End());
            else r.Skip(wire);
        }
        r.Expect(end);
    }

    void ReadNode(Reader r, long end)
    {
        string op = "", domain = "";
        var inputs = new List<string>();
        var outputs = new List<string>();
        long heads = 0, kvHeads = 0, rotary = 0;
        while (r.Position < end)
        {
            var (field, wire) = r.Tag();
            switch (field)
            {
                case 1 when wire == 2: inputs.Add(r.String()); break;
                case 2 when wire == 2: outputs.Add(r.String()); break;
                case 4 when wire == 2: op = r.String(); break;
                case 7 when wire == 2: domain = r.String(); break;
                case 5 when wire == 2:
                    {
                        long attrEnd = r.End();
                        string name = "";
                        long i = 0;
                        while (r.Position < attrEnd)
                        {
                            var (af, aw) = r.Tag();
                            if (af == 1 && aw == 2) name = r.String();
                            else if (af == 3 && aw == 0) i = r.Varint();
                            else r.Skip(aw);
                        }
                        r.Expect(attrEnd);
                        if (name == "num_heads") heads = i;
                        else if (name == "kv_num_heads") kvHeads = i;
                        else if (name == "do_rotary") rotary = i;
                        break;
                    }
                default: r.Skip(wire); break;
            }
        }
        r.Expect(end);
        OpTypes.Add(domain.Length == 0 || domain == "ai.onnx" ? op : domain + "::" + op);
        if (op == "GroupQueryAttention")
            GroupQueryAttention.Add(new AttentionNode(op, heads, kvHeads, rotary, inputs.ToArray(), outputs.ToArray()));
    }

    /// <summary>ValueInfoProto: name (1), type (2) → TypeProto.tensor_type (1) → elem_type (1).</summary>
    void ReadInput(Reader r, long end)
    {
        string name = "";
        int elemType = 0;
        while (r.Position < end)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2) name = r.String();
            else if (field == 2 && wire == 2)
            {
                long typeEnd = r.End();
                while (r.Position < typeEnd)
                {
                    var (tf, tw) = r.Tag();
                    if (tf == 1 && tw == 2)
                    {
                        long tensorEnd = r.End();
                        while (r.Position < tensorEnd)
                        {
                            var (ef, ew) = r.Tag();
                            if (ef == 1 && ew == 0) elemType = (int)r.Varint();
                            else r.Skip(ew);
                        }
                        r.Expect(tensorEnd);
                    }
                    else r.Skip(tw);
                }
                r.Expect(typeEnd);
            }
            else r.Skip(wire);
        }
        r.Expect(end);
        if (name.Length > 0 && elemType != 0) InputElementTypes[name] = elemType;
    }

    void ReadInitializer(Reader r, long end)
    {
        var dims = new List<long>();
        string name = "";
        while (r.Position < end)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 0) dims.Add(r.Varint());
            else if (field == 1 && wire == 2)
            {
                long packedEnd = r.End();
                while (r.Position < packedEnd) dims.Add(r.Varint());
            }
            else if (field == 8 && wire == 2) name = r.String();
            else r.Skip(wire);
        }
        r.Expect(end);
        InitializerDims[name] = dims.ToArray();
    }

    /// <summary>Minimal protobuf wire reader over a seekable stream; length-delimited payloads it does not need are seeked over.</summary>
    sealed class Reader(Stream s)
    {
        public long Position => s.Position;

        /// <summary>Reads a length prefix and returns where that length-delimited field ends.</summary>
        public long End()
        {
            long len = Varint();
            if (len < 0 || s.Position + len > s.Length) throw new EndOfStreamException();
            return s.Position + len;
        }

        public (int Field, int Wire) Tag()
        {
            long tag = Varint();
            int wire = (int)(tag & 7);
            int field = (int)(tag >> 3);
            if (field <= 0) throw new InvalidDataException($"bad field number at offset {Position}");
            return (field, wire);
        }

        public long Varint()
        {
            long result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                int b = s.ReadByte();
                if (b < 0) throw new EndOfStreamException();
                result |= (long)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return result;
            }
            throw new InvalidDataException("varint too long");
        }

        public string String()
        {
            long len = Varint();
            if (len < 0 || len > 1 << 20) throw new InvalidDataException($"string length {len} at offset {Position}");
            var buf = new byte[len];
            s.ReadExactly(buf);
            return Encoding.UTF8.GetString(buf);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Seek(8); break;
                case 2: Seek(Varint()); break;
                case 5: Seek(4); break;
                default: throw new InvalidDataException($"unsupported wire type {wire} at offset {Position}");
            }
        }

        void Seek(long n)
        {
            if (n < 0 || s.Position + n > s.Length) throw new EndOfStreamException();
            s.Seek(n, SeekOrigin.Current);
        }

        public void Expect(long end)
        {
            if (Position != end) throw new InvalidDataException($"message length mismatch at offset {Position}");
        }
    }
}
