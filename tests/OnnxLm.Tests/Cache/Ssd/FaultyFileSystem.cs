using Microsoft.Win32.SafeHandles;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>The real file system with switchable faults: a full disk, a read-only mount, an uncreatable directory, or a
/// process that "dies" part-way through a write (the bytes before the cut reach the file, nothing after it happens).</summary>
internal sealed class FaultyFileSystem : ISsdFileSystem
{
    readonly PhysicalSsdFileSystem real = PhysicalSsdFileSystem.Instance;

    public volatile bool DiskFull;
    public volatile bool ReadOnly;
    public volatile bool Uncreatable;
    /// <summary>When ≥ 0: the write that reaches this many bytes (over the whole run) is cut there and every later
    /// mutation throws, as if the process had been killed.</summary>
    public long CrashAfterBytes = -1;
    long written;
    public volatile bool Crashed;
    public int WriteAttempts;
    /// <summary>When set, block writes wait for it (a slow disk).</summary>
    public ManualResetEventSlim? WriteGate;

    void CheckMutable(string path)
    {
        if (Crashed) throw new IOException("process is dead");
        if (ReadOnly) throw new UnauthorizedAccessException($"Access to the path '{path}' is denied (read-only file system).");
    }

    public void CreateDirectory(string path)
    {
        if (Uncreatable) throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
        if (ReadOnly && !Directory.Exists(path)) CheckMutable(path);
        if (Crashed) CheckMutable(path);
        real.CreateDirectory(path);
    }

    public bool DirectoryExists(string path) => !Uncreatable && real.DirectoryExists(path);

    public IDisposable Lock(string path)
    {
        CheckMutable(path);
        return real.Lock(path);
    }

    public void WriteDurable(string path, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        WriteGate?.Wait();
        CheckMutable(path);
        Interlocked.Increment(ref WriteAttempts);
        if (DiskFull) throw new IOException("No space left on device", 28);
        long total = first.Length + second.Length;
        if (CrashAfterBytes >= 0 && written + total > CrashAfterBytes)
        {
            // The kill lands inside this write: a prefix of the bytes reaches the (temporary) file, then nothing more.
            int cut = (int)(CrashAfterBytes - written);
            var all = new byte[total];
            first.CopyTo(all);
            second.CopyTo(all.AsSpan(first.Length));
            File.WriteAllBytes(path, all.AsSpan(0, cut).ToArray());
            Crashed = true;
            throw new IOException("killed");
        }
        written += total;
        real.WriteDurable(path, first, second);
    }

    public void Move(string source, string destination)
    {
        CheckMutable(destination);
        real.Move(source, destination);
    }

    public void Delete(string path)
    {
        CheckMutable(path);
        real.Delete(path);
    }

    public bool FileExists(string path) => real.FileExists(path);

    public SafeFileHandle OpenRead(string path) => real.OpenRead(path);

    public IEnumerable<SsdFileInfo> EnumerateFiles(string directory) => real.EnumerateFiles(directory);

    public long AvailableFreeSpace(string path) => real.AvailableFreeSpace(path);
}
