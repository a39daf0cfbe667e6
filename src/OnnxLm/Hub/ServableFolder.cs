using System.Runtime.InteropServices;

namespace OnnxLm.Hub;

/// <summary>
/// ONNX Runtime (1.31) refuses external data that resolves outside the folder of the *resolved* model file ("External
/// data path escapes model directory"). A pristine cache snapshot passes only because <c>model.onnx</c> and
/// <c>model.onnx.data</c> are both symlinks into the same <c>blobs/</c>; one whose <c>model.onnx</c> is a plain file
/// (edited, replaced, copied by a tool) is refused, as is any loader that passes the folder or the bytes instead of the
/// path (tests pin both). So a snapshot folder is served through a view of hard links to the same blobs,
/// <c>models--ORG--NAME/onnxlm-hardlinks/{commit}/…</c>: plain files in one folder, which every loader accepts, on the
/// file system of <c>blobs/</c> (no byte copied; a copy only where hard links are refused). The view is built under a
/// temporary name and renamed into place, so a view that exists is complete; it is made once per commit (at the first serve or at
/// service-install time, so a read-only service never writes) and made again when the snapshot changed since (a file edited
/// or replaced: <see cref="IsCurrent"/> compares names, sizes and times). huggingface_hub ignores the extra folder.
/// </summary>
internal static partial class ServableFolder
{
    public const string ViewFolderName = "onnxlm-hardlinks";

    /// <summary>The folder to hand to the engine for <paramref name="folder"/>: itself unless it is (in) a cache snapshot
    /// holding symlinks.</summary>
    public static string Prepare(string folder, Action<string>? note = null)
    {
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full) || !Directory.EnumerateFileSystemEntries(full).Any(e => new FileInfo(e).LinkTarget is not null))
            return folder;
        if (ViewPath(full) is not { } view) return folder;
        bool exists = File.Exists(Path.Combine(view, ModelVariant.ConfigFile));
        if (exists && IsCurrent(full, view)) return view;
        string temp = view + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(temp);
        int copied = 0;
        try
        {
            foreach (string entry in Directory.EnumerateFiles(full))
            {
                string target = new FileInfo(entry).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? entry;
                string link = Path.Combine(temp, Path.GetFileName(entry));
                if (!TryHardLink(target, link))
                {
                    File.Copy(target, link);
                    // A copy keeps its source's time, so IsCurrent can tell it from an edited source later.
                    File.SetLastWriteTimeUtc(link, File.GetLastWriteTimeUtc(target));
                    copied++;
                }
            }
            if (exists)
            {
                // The snapshot changed since the view was made (a file edited or replaced): swap in the new view. A
                // server still running on the old one keeps its open files; only the names go.
                string old = view + ".old-" + Guid.NewGuid().ToString("N");
                Directory.Move(view, old);
                Directory.Move(temp, view);
                Directory.Delete(old, recursive: true);
                note?.Invoke($"{view}: rebuilt, the snapshot changed since it was made");
            }
            else
            {
                try
                {
                    Directory.Move(temp, view);
                }
                catch (IOException) when (File.Exists(Path.Combine(view, ModelVariant.ConfigFile)))
                {
                    Directory.Delete(temp, recursive: true); // another process built the same view
                }
            }
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
        if (copied > 0) note?.Invoke($"{copied} files copied into {view} (hard links refused by the file system)");
        return view;
    }

    /// <summary>Whether <paramref name="view"/> still mirrors <paramref name="snapshot"/>: the same file names, each with its
    /// target's size and modification time (a hard link shares its target's; an edit or a replaced file changes them).</summary>
    static bool IsCurrent(string snapshot, string view)
    {
        var names = Directory.EnumerateFiles(snapshot).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        if (Directory.EnumerateFiles(view).Count() != names.Count) return false;
        foreach (string? name in names)
        {
            var source = new FileInfo(Path.Combine(snapshot, name!));
            var target = source.LinkTarget is null ? source : source.ResolveLinkTarget(returnFinalTarget: true) as FileInfo;
            var mirrored = new FileInfo(Path.Combine(view, name!));
            if (target is not { Exists: true } || !mirrored.Exists || mirrored.Length != target.Length
                || mirrored.LastWriteTimeUtc != target.LastWriteTimeUtc)
                return false;
        }
        return true;
    }

    /// <summary><c>…/models--X/snapshots/{commit}/{sub}</c> → <c>…/models--X/onnxlm-hardlinks/{commit}/{sub}</c>; null
    /// when the folder is not inside a cache snapshot.</summary>
    static string? ViewPath(string full)
    {
        var parts = full.TrimEnd(Path.DirectorySeparatorChar).Split(Path.DirectorySeparatorChar);
        for (int i = parts.Length - 2; i >= 1; i--)
            if (parts[i] == "snapshots" && parts[i - 1].StartsWith("models--", StringComparison.Ordinal))
            {
                parts[i] = ViewFolderName;
                string view = string.Join(Path.DirectorySeparatorChar, parts);
                Directory.CreateDirectory(Path.GetDirectoryName(view)!);
                return view;
            }
        return null;
    }

    static bool TryHardLink(string existing, string link) =>
        !OperatingSystem.IsWindows() && Link(existing, link) == 0;

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string link);
}
