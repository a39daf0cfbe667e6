using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace OnnxLm.Engine.Model;

/// <summary>
/// The identity of a model file's bytes. A file <c>onnxlm pull</c> placed in the Hugging Face cache is a symlink into
/// <c>blobs/</c> named by its sha256 (LFS) or git sha1, which the download verified: that name is the identity, free.
/// Any other file is hashed whole (XxHash128) once and the result kept in a cache file keyed by path, length and
/// modification time, so a restart does not read the weights again. Invariant: two files with the same identity have
/// the same bytes (up to the hash); a changed file (length or mtime) is hashed again; a cache file that cannot be read
/// or written only costs the hashing.
/// </summary>
public static class ModelContentHash
{
    static readonly Lock Gate = new();

    /// <summary>The identity of <paramref name="path"/>: <c>blob:NAME</c> for a pulled file, else <c>xxh128:HEX</c>.</summary>
    public static string Of(string path, string? cacheFile)
    {
        if (BlobName(path) is { } blob) return "blob:" + blob;
        var info = new FileInfo(path);
        string full = info.FullName, stamp = string.Create(CultureInfo.InvariantCulture, $"{info.Length}\t{info.LastWriteTimeUtc.Ticks}");
        lock (Gate)
        {
            var cached = cacheFile is null ? [] : Load(cacheFile);
            if (cached.TryGetValue(full, out var entry) && entry.Stamp == stamp) return entry.Hash;
            string hash = "xxh128:" + HashFile(path).ToString("x32", CultureInfo.InvariantCulture);
            if (cacheFile is not null)
            {
                cached[full] = (stamp, hash);
                Save(cacheFile, cached);
            }
            return hash;
        }
    }

    /// <summary>The blob name a Hugging Face snapshot symlink resolves to (64 or 40 hex digits), or null.</summary>
    static string? BlobName(string path)
    {
        try
        {
            if (File.ResolveLinkTarget(path, returnFinalTarget: true) is not { } target) return null;
            string name = target.Name;
            bool hex = name.Length is 64 or 40 && name.All(char.IsAsciiHexDigitLower);
            return hex && string.Equals(Path.GetFileName(Path.GetDirectoryName(target.FullName)), "blobs", StringComparison.Ordinal) ? name : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    static UInt128 HashFile(string path)
    {
        var hash = new XxHash128();
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        hash.Append(f);
        return hash.GetCurrentHashAsUInt128();
    }

    static Dictionary<string, (string Stamp, string Hash)> Load(string cacheFile)
    {
        var result = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        try
        {
            foreach (string line in File.ReadLines(cacheFile))
            {
                var parts = line.Split('\t');
                if (parts.Length == 4) result[parts[0]] = (parts[1] + "\t" + parts[2], parts[3]);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return result;
    }

    static void Save(string cacheFile, Dictionary<string, (string Stamp, string Hash)> entries)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(cacheFile))!);
            var text = new StringBuilder();
            foreach (var (path, (stamp, hash)) in entries)
                if (!path.Contains('\t', StringComparison.Ordinal) && !path.Contains('\n', StringComparison.Ordinal))
                    text.Append(path).Append('\t').Append(stamp).Append('\t').Append(hash).Append('\n');
            string temp = cacheFile + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, cacheFile, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
