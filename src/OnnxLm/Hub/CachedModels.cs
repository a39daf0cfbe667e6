namespace OnnxLm.Hub;

/// <summary>One model-builder folder found in the cache.</summary>
internal sealed record CachedModel(string Repo, string Folder, string Commit, string Directory, long Size, string? Problem);

/// <summary>
/// Reads the cache without the network: the folder a reference points to (its ref or commit, then the named or best
/// CPU folder of that snapshot), and every servable-looking folder for <c>onnxlm models</c>.
/// </summary>
internal static class CachedModels
{
    /// <summary>The snapshot folder for <paramref name="r"/>, or null with what is missing.</summary>
    public static string? Find(HubCache cache, HubModelRef r, out string missing)
    {
        string? commit = cache.LocalCommit(r);
        if (commit is null)
        {
            missing = System.IO.Directory.Exists(cache.RepoDirectory(r))
                ? $"the cache has {r.Repo} but no refs/{r.Revision}"
                : $"{r.Repo} is not in the cache";
            return null;
        }
        string snapshot = cache.SnapshotDirectory(r, commit);
        if (r.Subfolder is { } sub)
        {
            string dir = Path.Combine(snapshot, sub.Replace('/', Path.DirectorySeparatorChar));
            missing = $"{r} (commit {commit[..12]}) has no {ModelVariant.ConfigFile} in the cache";
            return File.Exists(Path.Combine(dir, ModelVariant.ConfigFile)) ? dir : null;
        }
        var best = Variants(snapshot)
            .Where(v => ModelVariant.AcceleratorProviders(Path.Combine(snapshot, v.Folder, ModelVariant.ConfigFile)).Count == 0)
            .OrderBy(v => v.Rank).FirstOrDefault();
        missing = $"{r} (commit {commit[..12]}) has no complete model folder in the cache";
        return best is null ? null : Path.Combine(snapshot, best.Folder.Replace('/', Path.DirectorySeparatorChar));
    }

    /// <summary>Folders under a snapshot holding genai_config.json (relative, '/'-separated), as variants without file lists.</summary>
    static IEnumerable<ModelVariant> Variants(string snapshot)
    {
        if (!System.IO.Directory.Exists(snapshot)) yield break;
        foreach (string config in System.IO.Directory.EnumerateFiles(snapshot, ModelVariant.ConfigFile, SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(snapshot, Path.GetDirectoryName(config)!);
            yield return new ModelVariant(rel == "." ? "" : rel.Replace(Path.DirectorySeparatorChar, '/'), []);
        }
    }

    /// <summary>Every model-builder folder of every cached snapshot.</summary>
    public static List<CachedModel> List(HubCache cache)
    {
        var found = new List<CachedModel>();
        foreach (var (repo, dir) in cache.Repositories())
        {
            string snapshots = Path.Combine(dir, "snapshots");
            if (!System.IO.Directory.Exists(snapshots)) continue;
            foreach (string snapshot in System.IO.Directory.EnumerateDirectories(snapshots).Order(StringComparer.Ordinal))
                foreach (var v in Variants(snapshot).OrderBy(v => v.Rank))
                {
                    string folder = Path.Combine(snapshot, v.Folder);
                    long size = 0;
                    string? problem = null;
                    foreach (string f in System.IO.Directory.EnumerateFiles(folder))
                    {
                        var info = new FileInfo(f);
                        if (info.LinkTarget is not null && info.ResolveLinkTarget(true) is not { Exists: true } target)
                        {
                            problem = $"{info.Name} points to a missing blob";
                            continue;
                        }
                        size += info.LinkTarget is null ? info.Length : ((FileInfo)info.ResolveLinkTarget(true)!).Length;
                    }
                    if (problem is null)
                    {
                        var gpu = ModelVariant.AcceleratorProviders(Path.Combine(folder, ModelVariant.ConfigFile));
                        if (gpu.Count > 0) problem = $"targets {string.Join(", ", gpu)}";
                    }
                    if (problem is null)
                    {
                        try { Engine.Model.ModelContract.Inspect(folder); }
                        catch (Engine.ModelFormatException e) { problem = e.Message; }
                    }
                    found.Add(new CachedModel(repo, v.DisplayName, Path.GetFileName(snapshot), folder, size, problem));
                }
        }
        return found;
    }
}
