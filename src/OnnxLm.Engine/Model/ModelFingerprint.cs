using System.IO.Hashing;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Identity of "these KV bytes mean the same thing": the config, the graph and weight files (size plus their first and
/// last MiB: reading hundreds of MB at every start would cost seconds), the KV element type, the block size and the
/// storage bits. Blocks keyed with one fingerprint are never served to another.
/// </summary>
public static class ModelFingerprint
{
    const int Sample = 1 << 20;

    public static UInt128 Compute(ModelContract contract, int blockSize, int bits)
    {
        var hash = new XxHash128();
        hash.Append(File.ReadAllBytes(Path.Combine(contract.Directory, "genai_config.json")));
        AppendFile(hash, contract.ModelPath);
        AppendFile(hash, contract.ModelPath + ".data");
        Span<byte> tail = stackalloc byte[12];
        BitConverter.TryWriteBytes(tail, (int)contract.KvType);
        BitConverter.TryWriteBytes(tail[4..], blockSize);
        BitConverter.TryWriteBytes(tail[8..], bits);
        hash.Append(tail);
        return hash.GetCurrentHashAsUInt128();
    }

    static void AppendFile(XxHash128 hash, string path)
    {
        if (!File.Exists(path)) return;
        using var f = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        BitConverter.TryWriteBytes(length, f.Length);
        hash.Append(length);
        var buffer = new byte[(int)Math.Min(Sample, f.Length)];
        f.ReadExactly(buffer);
        hash.Append(buffer);
        if (f.Length > Sample)
        {
            f.Seek(-buffer.Length, SeekOrigin.End);
            f.ReadExactly(buffer);
            hash.Append(buffer);
        }
    }
}
