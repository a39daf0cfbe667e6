namespace OnnxLm.Hub;

/// <summary>
/// The Hugging Face cache layout, shared with <c>huggingface_hub</c>: <c>{root}/models--ORG--NAME/blobs/{etag}</c> (file
/// bytes, named by sha256 for LFS files and git sha1 for the others), <c>snapshots/{commit}/{path}</c> (relative symlinks
/// into <c>blobs/</c>), <c>refs/{revision}</c> (the commit, no newline), partial downloads as <c>blobs/{etag}.incomplete</c>
/// and a lock per blob at <c>{root}/.locks/models--ORG--NAME/{etag}.lock</c>. Invariant: a file under <c>blobs/</c> with
/// no suffix was verified before it was renamed there.
/// </summary>
internal sealed class HubCache(string root)
{
    public string Root { get; } = root;

    public string RepoDirectory(HubModelRef r) => Path.Combine(Root, r.CacheFolderName);
    public string BlobsDirectory(HubModelRef r) => Path.Combine(RepoDirectory(r), "blobs");
    public string BlobPath(HubModelRef r, string etag) => Path.Combine(BlobsDirectory(r), etag);
    public string SnapshotDirectory(HubModelRef r, string commit) => Path.Combine(RepoDirectory(r), "snapshots", commit);
    public string LockPath(HubModelRef r, string etag) => Path.Combine(Root, ".locks", r.CacheFolderName, etag + ".lock");
    string RefPath(HubModelRef r) => Path.Combine(RepoDirectory(r), "refs", r.Revision);

    /// <summary>The commit <paramref name="r"/>'s revision points to locally: the revision itself when it is a commit
    /// hash, else <c>refs/{revision}</c>; null when unknown.</summary>
    public string? LocalCommit(HubModelRef r)
    {
        if (r.RevisionIsCommit) return r.Revision;
        try
        {
            string path = RefPath(r);
            return File.Exists(path) && File.ReadAllText(path).Trim() is { } c && HubModelRef.IsCommitHash(c) ? c : null;
        }
        catch (IOException) { return null; }
    }

    public void WriteRef(HubModelRef r, string commit)
    {
        if (r.RevisionIsCommit) return;
        string path = RefPath(r);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path) && File.ReadAllText(path) == commit) return;
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temp, commit);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Points <c>snapshots/{commit}/{path}</c> at <c>blobs/{etag}</c> with a relative symlink, as huggingface_hub
    /// does; an existing entry is replaced (it is for the same path of the same commit, so for the same bytes).</summary>
    public void LinkSnapshot(HubModelRef r, string commit, string repoPath, string etag)
    {
        string link = Path.Combine(SnapshotDirectory(r, commit), repoPath.Replace('/', Path.DirectorySeparatorChar));
        string dir = Path.GetDirectoryName(link)!;
        Directory.CreateDirectory(dir);
        string target = Path.GetRelativePath(dir, BlobPath(r, etag));
        if (new FileInfo(link) is { LinkTarget: { } existing } && existing == target) return;
        string temp = link + ".tmp-" + Guid.NewGuid().ToString("N");
        File.CreateSymbolicLink(temp, target);
        File.Move(temp, link, overwrite: true);
    }

    /// <summary>Takes the blob's lock: the same lock file huggingface_hub's <c>filelock</c> takes (an exclusive
    /// <c>flock</c>, which .NET takes for <see cref="FileShare.None"/> on Unix), waiting while another process holds it.</summary>
    public async Task<FileStream> LockAsync(HubModelRef r, string etag, Action<string>? waiting, CancellationToken ct)
    {
        string path = LockPath(r, etag);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        bool told = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (!ct.IsCancellationRequested)
            {
                if (!told) waiting?.Invoke($"waiting for another download of {etag[..Math.Min(12, etag.Length)]}… ({path})");
                told = true;
                await Task.Delay(100, ct);
            }
        }
    }

    /// <summary>Every repository folder in the cache (<c>models--*</c>).</summary>
    public IEnumerable<(string Repo, string Directory)> Repositories()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (string dir in Directory.EnumerateDirectories(Root, "models--*").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir)["models--".Length..];
            int sep = name.IndexOf("--", StringComparison.Ordinal);
            yield return (sep < 0 ? name : name[..sep] + "/" + name[(sep + 2)..], dir);
        }
    }
}
