using System.Globalization;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// Where block files live in a tier's directory: <c>{h[0..2]}/{h[2]}/{hash}-{parent}.safetensors</c> (4,096 leaf
/// directories), and the walk over them that finds every block by its name alone (hash and parent are in the name, so the
/// scan opens no file). Invariant: a name that does not parse, or sits in the wrong leaf, is not a block.
/// </summary>
internal static class SsdBlockPaths
{
    const int NameLength = 32 + 1 + 32;

    public static string BlockPath(string directory, UInt128 hash, UInt128 parent)
    {
        string hex = hash.ToString("x32", CultureInfo.InvariantCulture);
        return Path.Combine(directory, hex[..2], hex[2..3],
            string.Concat(hex, "-", parent.ToString("x32", CultureInfo.InvariantCulture), KvBlockFile.Extension));
    }

    /// <summary>The leaf directory of <paramref name="hash"/> and its number (0..4095).</summary>
    public static (string Path, int Leaf) LeafOf(string directory, UInt128 hash)
    {
        string hex = hash.ToString("x32", CultureInfo.InvariantCulture);
        return (Path.Combine(directory, hex[..2], hex[2..3]), (int)(hash >> 116));
    }

    /// <summary>Every block file under <paramref name="directory"/>: hash, parent, length, last write.</summary>
    public static IEnumerable<(UInt128 Hash, UInt128 Parent, long Length, DateTime LastWriteUtc)> Enumerate(ISsdFileSystem fs, string directory)
    {
        for (int a = 0; a < 256; a++)
        {
            string first = Path.Combine(directory, a.ToString("x2", CultureInfo.InvariantCulture));
            if (!fs.DirectoryExists(first)) continue;
            for (int b = 0; b < 16; b++)
            {
                string leaf = Path.Combine(first, b.ToString("x", CultureInfo.InvariantCulture));
                foreach (var f in fs.EnumerateFiles(leaf))
                    if (TryParseName(f.Name, out UInt128 hash, out UInt128 parent) && (int)(hash >> 116) == a * 16 + b)
                        yield return (hash, parent, f.Length, f.LastWriteUtc);
            }
        }
    }

    static bool TryParseName(string name, out UInt128 hash, out UInt128 parent)
    {
        hash = parent = default;
        return name.Length == NameLength + KvBlockFile.Extension.Length
            && name.EndsWith(KvBlockFile.Extension, StringComparison.Ordinal)
            && name[32] == '-'
            && UInt128.TryParse(name.AsSpan(0, 32), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out hash)
            && UInt128.TryParse(name.AsSpan(33, 32), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out parent);
    }
}
