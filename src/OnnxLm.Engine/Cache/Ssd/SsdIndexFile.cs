using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// The persisted index: "OLMKVIX1", the fingerprint, the entry count, 48-byte records (hash, parent, size, last use)
/// and the XxHash128 of everything before it. Written to a temporary name, fsync'd and renamed, so a reader sees the
/// previous index or the new one; a file that fails any check is ignored and the directory is scanned instead.
/// </summary>
internal static class SsdIndexFile
{
    static ReadOnlySpan<byte> Magic => "OLMKVIX1"u8;
    const int HeaderBytes = 8 + 16 + 8, RecordBytes = 48, TrailerBytes = 16;

    /// <summary>Serializes <paramref name="entries"/> into <paramref name="buffer"/> (grown when needed); returns the length.</summary>
    public static int Serialize(Dictionary<UInt128, SsdIndexEntry> entries, UInt128 fingerprint, ref byte[] buffer)
    {
        int length = HeaderBytes + entries.Count * RecordBytes + TrailerBytes;
        if (buffer.Length < length) buffer = new byte[Math.Max(length, buffer.Length * 2)];
        var span = buffer.AsSpan(0, length);
        Magic.CopyTo(span);
        BinaryPrimitives.WriteUInt128LittleEndian(span[8..], fingerprint);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], entries.Count);
        int at = HeaderBytes;
        foreach (var (hash, e) in entries)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(span[at..], hash);
            BinaryPrimitives.WriteUInt128LittleEndian(span[(at + 16)..], e.Parent);
            BinaryPrimitives.WriteInt64LittleEndian(span[(at + 32)..], e.Size);
            BinaryPrimitives.WriteInt64LittleEndian(span[(at + 40)..], e.LastUseTicks);
            at += RecordBytes;
        }
        BinaryPrimitives.WriteUInt128LittleEndian(span[at..], XxHash128.HashToUInt128(span[..at]));
        return length;
    }

    /// <summary>Loads the index into <paramref name="entries"/>; false (and nothing added) when missing or invalid.</summary>
    public static bool TryLoad(ISsdFileSystem fs, string path, UInt128 fingerprint, Dictionary<UInt128, SsdIndexEntry> entries)
    {
        byte[] data;
        try
        {
            if (!fs.FileExists(path)) return false;
            using SafeFileHandle handle = fs.OpenRead(path);
            long length = RandomAccess.GetLength(handle);
            if (length < HeaderBytes + TrailerBytes || length > int.MaxValue) return false;
            data = GC.AllocateUninitializedArray<byte>((int)length);
            if (RandomAccess.Read(handle, data, 0) != length) return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        var span = data.AsSpan();
        if (!span.StartsWith(Magic) || BinaryPrimitives.ReadUInt128LittleEndian(span[8..]) != fingerprint) return false;
        long count = BinaryPrimitives.ReadInt64LittleEndian(span[24..]);
        if (count < 0 || HeaderBytes + count * RecordBytes + TrailerBytes != span.Length) return false;
        int end = span.Length - TrailerBytes;
        if (XxHash128.HashToUInt128(span[..end]) != BinaryPrimitives.ReadUInt128LittleEndian(span[end..])) return false;
        entries.EnsureCapacity((int)count);
        for (int at = HeaderBytes; at < end; at += RecordBytes)
        {
            entries[BinaryPrimitives.ReadUInt128LittleEndian(span[at..])] = new SsdIndexEntry(
                BinaryPrimitives.ReadUInt128LittleEndian(span[(at + 16)..]),
                BinaryPrimitives.ReadInt64LittleEndian(span[(at + 32)..]),
                BinaryPrimitives.ReadInt64LittleEndian(span[(at + 40)..]));
        }
        return true;
    }
}
