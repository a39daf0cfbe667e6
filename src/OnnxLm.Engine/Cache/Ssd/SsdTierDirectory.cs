namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// Opening a tier's directory, and the names in it: creates the directory, takes the writer's lock file and proves the
/// directory writable by writing the <c>dirty</c> marker (which also says, at the next start, whether the last writer
/// stopped cleanly). Invariant: the result is read-write only with the lock held and the marker written; a directory
/// that exists but cannot be written to, or whose lock another process holds, is read-only; one that cannot be created
/// disables the tier. Nothing throws.
/// </summary>
internal static class SsdTierDirectory
{
    public const string IndexName = "index.bin", DirtyName = "dirty", LockName = "lock", TempName = "tmp";

    /// <summary>What opening found. <see cref="Lock"/> is held (to dispose at shutdown) exactly when the mode is read-write.</summary>
    public readonly record struct Opened(SsdTierMode Mode, string Reason, IDisposable? Lock, bool DirtyBefore);

    public static Opened Open(ISsdFileSystem fs, string directory)
    {
        string? readOnlyReason = null;
        try
        {
            fs.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            if (!SafeDirectoryExists(fs, directory)) return new Opened(SsdTierMode.Disabled, $"cannot create {directory}: {e.Message}", null, false);
            readOnlyReason = $"{directory} is not writable ({e.Message})";
        }

        IDisposable? lockHandle = null;
        if (readOnlyReason is null)
        {
            try
            {
                lockHandle = fs.Lock(Path.Combine(directory, LockName));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                readOnlyReason = e is UnauthorizedAccessException
                    ? $"{directory} is not writable ({e.Message})"
                    : $"another process holds {Path.Combine(directory, LockName)} ({e.Message})";
            }
        }

        bool dirtyBefore = SafeFileExists(fs, Path.Combine(directory, DirtyName));
        if (lockHandle is not null)
        {
            try
            {
                // The marker doubles as the write probe: a directory we cannot write to is read-only, not half-working.
                fs.CreateDirectory(Path.Combine(directory, TempName));
                fs.WriteDurable(Path.Combine(directory, DirtyName), default, default);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                readOnlyReason = $"{directory} is not writable ({e.Message})";
                lockHandle.Dispose();
                lockHandle = null;
            }
        }
        return lockHandle is not null
            ? new Opened(SsdTierMode.ReadWrite, "holds the lock", lockHandle, dirtyBefore)
            : new Opened(SsdTierMode.ReadOnly, readOnlyReason ?? "holds the lock", null, dirtyBefore);
    }

    static bool SafeDirectoryExists(ISsdFileSystem fs, string path)
    {
        try { return fs.DirectoryExists(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    static bool SafeFileExists(ISsdFileSystem fs, string path)
    {
        try { return fs.FileExists(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
