using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OnnxLm.Hosting;

/// <summary>
/// Extracts a <see cref="NativePayload"/> into <c>root/&lt;payload id&gt;/</c> and keeps it honest.
/// Invariants: a directory named after the id is only ever created by an atomic rename of a fully written and verified
/// temporary directory, so readers never see a partial one; it holds a stamp file recording each library's size,
/// modification time and SHA-256, and is trusted without hashing only while sizes and times still match the stamp
/// (any write changes the time, so a changed byte forces a full re-hash, which then forces a replacement); every repair
/// happens under an exclusive lock file (flock, released by the kernel if the process dies), so two processes starting at
/// once extract once and the second uses the first one's directory.
/// </summary>
internal static class NativeLibraryCache
{
    public const string StampFileName = ".onnxlm-native-stamp";
    static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(5);

    public static NativeCacheResult Ensure(string root, NativePayload payload)
    {
        string dir = Path.Combine(root, payload.Id);
        // Fast path, no lock: the common start.
        var (state, problem) = Check(dir, payload);
        if (state == DirState.Intact) return new(dir, NativeCacheOutcome.Reused);
        if (state == DirState.IntactAfterRehash)
        {
            WriteStamp(dir, payload);
            return new(dir, NativeCacheOutcome.Verified);
        }

        Directory.CreateDirectory(root);
        using var held = AcquireLock(Path.Combine(root, payload.Id + ".lock"));
        // Whoever held the lock before us may have repaired it already.
        (state, problem) = Check(dir, payload);
        if (state == DirState.Intact) return new(dir, NativeCacheOutcome.Reused);
        if (state == DirState.IntactAfterRehash)
        {
            WriteStamp(dir, payload);
            return new(dir, NativeCacheOutcome.Verified);
        }

        RemoveLeftovers(root, payload.Id);   // temporary dirs of crashed extractions (live ones would hold the lock)
        string temp = Path.Combine(root, $"{payload.Id}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Extract(temp, payload);
            bool existed = Directory.Exists(dir);
            if (existed)
            {
                // rename(2) cannot replace a non-empty directory: move the bad one aside first, then delete it.
                string old = Path.Combine(root, $"{payload.Id}.old-{Environment.ProcessId}-{Guid.NewGuid():N}");
                Directory.Move(dir, old);
                Directory.Delete(old, recursive: true);
            }
            Directory.Move(temp, dir);
            return existed ? new(dir, NativeCacheOutcome.Replaced, problem) : new(dir, NativeCacheOutcome.Extracted);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    enum DirState { Missing, Intact, IntactAfterRehash, Bad }

    /// <summary>Compares the directory with the payload. Hashes a file only when its size matches but its modification
    /// time differs from the stamp (or the stamp is missing).</summary>
    static (DirState State, string? Problem) Check(string dir, NativePayload payload)
    {
        if (!Directory.Exists(dir)) return (DirState.Missing, null);
        Dictionary<string, (long Size, long Ticks, string Sha)> stamp = ReadStamp(dir);
        bool rehashed = false;
        foreach (NativePayloadFile file in payload.Files)
        {
            var info = new FileInfo(Path.Combine(dir, file.Name));
            if (!info.Exists) return (DirState.Bad, $"{file.Name} is missing");
            if (info.Length != file.Size) return (DirState.Bad, $"{file.Name} has {info.Length} bytes, expected {file.Size}");
            if (stamp.TryGetValue(file.Name, out var s) && s.Size == file.Size && s.Sha == file.Sha256 &&
                s.Ticks == info.LastWriteTimeUtc.Ticks)
                continue;
            if (HashFile(info.FullName) != file.Sha256) return (DirState.Bad, $"{file.Name} was altered (SHA-256 differs)");
            rehashed = true;
        }
        return (rehashed ? DirState.IntactAfterRehash : DirState.Intact, null);
    }

    static void Extract(string temp, NativePayload payload)
    {
        Directory.CreateDirectory(temp);
        byte[] buffer = new byte[1 << 20];
        foreach (NativePayloadFile file in payload.Files)
        {
            string path = Path.Combine(temp, file.Name);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long written = 0;
            using (Stream source = payload.Open(file.Name))
            using (var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                int n;
                while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    target.Write(buffer, 0, n);
                    written += n;
                }
                target.Flush(flushToDisk: true);   // the rename must not publish a directory whose data is still in flight
            }
            // A corrupt payload must never become a trusted directory.
            string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (written != file.Size || sha != file.Sha256)
                throw new InvalidDataException($"embedded {file.Name} does not match its manifest (binary damaged?)");
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                           UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                                           UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        WriteStamp(temp, payload);
    }

    /// <summary>Stamp lines: <c>name\tsize\tmtime-ticks\tsha256</c>. Written to a temporary file and renamed, so a reader
    /// sees the old or the new stamp, never half of one.</summary>
    static void WriteStamp(string dir, NativePayload payload)
    {
        var text = new StringBuilder();
        foreach (NativePayloadFile file in payload.Files)
        {
            long ticks = File.GetLastWriteTimeUtc(Path.Combine(dir, file.Name)).Ticks;
            text.Append(file.Name).Append('\t').Append(file.Size.ToString(CultureInfo.InvariantCulture)).Append('\t')
                .Append(ticks.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(file.Sha256).Append('\n');
        }
        string temp = Path.Combine(dir, $"{StampFileName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        File.WriteAllText(temp, text.ToString());
        File.Move(temp, Path.Combine(dir, StampFileName), overwrite: true);
    }

    static Dictionary<string, (long Size, long Ticks, string Sha)> ReadStamp(string dir)
    {
        var result = new Dictionary<string, (long, long, string)>(StringComparer.Ordinal);
        string path = Path.Combine(dir, StampFileName);
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException) { return result; }   // missing or unreadable: every file gets hashed
        catch (UnauthorizedAccessException) { return result; }
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] p = line.Split('\t');
            if (p.Length == 4 && long.TryParse(p[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long size) &&
                long.TryParse(p[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long ticks))
                result[p[0]] = (size, ticks, p[3]);
        }
        return result;
    }

    static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    static void RemoveLeftovers(string root, string id)
    {
        foreach (string leftover in Directory.EnumerateDirectories(root, id + ".*"))
        {
            // The pattern also matches the id itself (DOS semantics of ".*"): only the temporary siblings go.
            string name = Path.GetFileName(leftover);
            if (!name.StartsWith(id + ".tmp-", StringComparison.Ordinal) && !name.StartsWith(id + ".old-", StringComparison.Ordinal)) continue;
            try { Directory.Delete(leftover, recursive: true); }
            catch (IOException) { }   // best effort: a leftover costs disk space, not correctness
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>An exclusive lock on <paramref name="path"/>: .NET takes flock(LOCK_EX|LOCK_NB) for FileShare.None on Unix,
    /// which also excludes a second open in the same process, so threads and processes are serialised alike.</summary>
    static FileStream AcquireLock(string path)
    {
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(25);
            }
        }
    }
}
