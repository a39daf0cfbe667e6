namespace OnnxLm.Builder;

/// <summary>
/// Writes a file under a temporary name and renames it into place, so a reader never sees a half-written file
/// under the final name (a crash leaves only <c>*.tmp</c> behind).
/// </summary>
internal static class AtomicFile
{
    public const string TempSuffix = ".tmp";

    public static void Write<TState>(string path, TState state, Action<Stream, TState> write)
    {
        string temp = path + TempSuffix;
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            write(stream, state);
        File.Move(temp, path, overwrite: true);
    }
}
