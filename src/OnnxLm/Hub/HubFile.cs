namespace OnnxLm.Hub;

/// <summary>One file of a repository at a commit, as the tree listing describes it: LFS files carry their sha256
/// (which is also their ETag and blob name), the others their git blob sha1.</summary>
internal sealed record HubFile(string Path, long Size, string GitOid, string? Sha256)
{
    public bool IsLfs => Sha256 is not null;

    /// <summary>The blob name huggingface_hub gives the file (the Hub's ETag).</summary>
    public string Etag => Sha256 ?? GitOid;

    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>The entry as a file; a path that could leave the snapshot folder (<c>..</c>, absolute, backslashes) is refused.</summary>
    public static HubFile From(HubTreeEntry e)
    {
        if (e.Path.Length == 0 || e.Path.StartsWith('/') || e.Path.Contains('\\') || e.Path.Split('/').Any(p => p is "" or "." or ".."))
            throw new HubException($"the Hub listed an unsafe file path '{e.Path}'");
        return new(e.Path, e.Lfs?.Size ?? e.Size, e.Oid, e.Lfs is { Oid.Length: > 0 } lfs ? lfs.Oid.ToLowerInvariant() : null);
    }
}
