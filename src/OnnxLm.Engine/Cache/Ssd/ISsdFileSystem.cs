using Microsoft.Win32.SafeHandles;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// The file operations the SSD tier performs, as a seam: tests substitute a file system that fails like a full disk or a
/// read-only mount (root ignores chmod, so permissions alone cannot simulate one). Every method may throw
/// <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>; the tier handles both.
/// </summary>
internal interface ISsdFileSystem
{
    void CreateDirectory(string path);

    bool DirectoryExists(string path);

    /// <summary>Takes the exclusive lock on <paramref name="path"/> (created if missing), held until disposed.</summary>
    IDisposable Lock(string path);

    /// <summary>Creates or truncates <paramref name="path"/>, writes the parts, flushes them to the device (fsync).</summary>
    void WriteDurable(string path, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second);

    /// <summary>Atomically replaces <paramref name="destination"/> with <paramref name="source"/>.</summary>
    void Move(string source, string destination);

    void Delete(string path);

    bool FileExists(string path);

    SafeFileHandle OpenRead(string path);

    /// <summary>Files directly in <paramref name="directory"/> (name, length, last write); empty when it does not exist.</summary>
    IEnumerable<SsdFileInfo> EnumerateFiles(string directory);

    /// <summary>Bytes available to this user on the volume of <paramref name="path"/>, or -1 when unknown.</summary>
    long AvailableFreeSpace(string path);
}
