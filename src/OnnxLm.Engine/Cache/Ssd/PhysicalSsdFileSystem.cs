using System.IO.Enumeration;
using Microsoft.Win32.SafeHandles;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// The real file system. Durability: file data is flushed with <see cref="FileStream.Flush(bool)"/> (fsync; F_FULLFSYNC on
/// macOS) before the rename, so a renamed file is never torn. The parent directory is not fsync'd (.NET has no API for
/// it without P/Invoke), so after a power loss the newest renames may be missing — the old state, never a torn file.
/// </summary>
internal sealed class PhysicalSsdFileSystem(bool fsync = true) : ISsdFileSystem
{
    public static readonly PhysicalSsdFileSystem Instance = new();

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public bool DirectoryExists(string path) => Directory.Exists(path);

    // FileShare.None is an exclusive flock on Unix and a share-mode lock on Windows; the OS drops it if the process dies.
    public IDisposable Lock(string path) => new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);

    public void WriteDurable(string path, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        stream.Write(first);
        stream.Write(second);
        // Without fsync a power loss can leave a renamed but torn file; reads verify the checksum, so it would be
        // detected and deleted, never served. fsync is kept by default so the disk holds what the index says.
        stream.Flush(flushToDisk: fsync);
    }

    public void Move(string source, string destination) => File.Move(source, destination, overwrite: true);

    public void Delete(string path) => File.Delete(path);

    public bool FileExists(string path) => File.Exists(path);

    // FileShare.Delete: the writer may prune or replace a file while another process reads it.
    public SafeFileHandle OpenRead(string path) =>
        File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.Asynchronous);

    public IEnumerable<SsdFileInfo> EnumerateFiles(string directory)
    {
        if (!Directory.Exists(directory)) return [];
        return new FileSystemEnumerable<SsdFileInfo>(directory,
            (ref FileSystemEntry e) => new SsdFileInfo(e.FileName.ToString(), e.Length, e.LastWriteTimeUtc.UtcDateTime),
            new EnumerationOptions { IgnoreInaccessible = true, RecurseSubdirectories = false })
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.IsDirectory,
        };
    }

    public long AvailableFreeSpace(string path)
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(path)).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return -1;
        }
    }
}
