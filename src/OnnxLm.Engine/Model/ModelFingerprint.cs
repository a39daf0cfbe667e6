using System.IO.Hashing;
using System.Text;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Identity of "these KV bytes mean the same thing": the config, the content of the graph and weight files
/// (<see cref="ModelContentHash"/>: the verified blob name of a pulled file, else a cached hash of the whole file), the
/// KV element type, the block size and the storage bits. Blocks keyed with one fingerprint are never served to another,
/// so replicas share blocks (SSD or Redis) only when their weights are byte-identical. A fingerprint that never leaves
/// the process (no SSD or remote tier) identifies the files by length and modification time instead of reading them.
/// </summary>
public static class ModelFingerprint
{
    /// <param name="contentHashCache">Where whole-file hashes are kept between runs; null = hash again every start.</param>
    /// <param name="shared">False when blocks never leave this process: files are identified without reading them.</param>
    public static UInt128 Compute(ModelContract contract, int blockSize, int bits, string? contentHashCache = null, bool shared = true)
    {
        var hash = new XxHash128();
        hash.Append(File.ReadAllBytes(Path.Combine(contract.Directory, "genai_config.json")));
        AppendFile(hash, contract.ModelPath, contentHashCache, shared);
        AppendFile(hash, contract.ModelPath + ".data", contentHashCache, shared);
        Span<byte> tail = stackalloc byte[12];
        BitConverter.TryWriteBytes(tail, (int)contract.KvType);
        BitConverter.TryWriteBytes(tail[4..], blockSize);
        BitConverter.TryWriteBytes(tail[8..], bits);
        hash.Append(tail);
        return hash.GetCurrentHashAsUInt128();
    }

    static void AppendFile(XxHash128 hash, string path, string? cache, bool shared)
    {
        if (!File.Exists(path)) return;
        var info = new FileInfo(path);
        string identity = shared ? ModelContentHash.Of(path, cache) : $"local:{info.Length}:{info.LastWriteTimeUtc.Ticks}";
        hash.Append(Encoding.UTF8.GetBytes(Path.GetFileName(path) + "=" + identity + "\n"));
    }
}
