using OnnxLm.Engine;
using OnnxLm.Engine.Model;

namespace OnnxLm.Hub;

/// <summary>What a pull produced: the snapshot folder to serve, the commit, the folder chosen and the others.</summary>
internal sealed record PullResult(string Folder, string Commit, ModelVariant Variant, IReadOnlyList<ModelVariant> Variants, long FetchedBytes);

/// <summary>
/// <c>onnxlm pull</c>: revision → commit → tree → the model-builder folder to use; then its config (checked at once),
/// the other small files (the graph checked against the engine's contract), a free-space check, and the weights. Every
/// file lands verified in <c>blobs/</c>; snapshot links are made only for verified blobs and <c>genai_config.json</c>'s
/// link comes last, so a snapshot folder holding it is complete.
/// </summary>
internal sealed class ModelPuller(HubSettings settings, HubTransferOptions transfer, PullProgress progress)
{
    readonly HubCache cache = new(settings.CacheDirectory);

    public HubCache Cache => cache;

    /// <summary>The model-builder folders of the reference's repository at its revision (no file is downloaded).</summary>
    public async Task<(string Commit, List<ModelVariant> Variants)> ListAsync(HubModelRef r, CancellationToken ct)
    {
        EnsureOnline(r);
        using var api = new HubApi(settings, transfer);
        string commit = await api.ResolveCommitAsync(r, ct);
        var files = (await api.ListFilesAsync(r, commit, r.Subfolder, ct)).Select(HubFile.From).ToList();
        return (commit, ModelVariant.Find(files));
    }

    void EnsureOnline(HubModelRef r)
    {
        if (settings.Offline)
            throw new HubException($"offline (HF_HUB_OFFLINE / --offline): cannot download {r}");
    }

    public async Task<PullResult> PullAsync(HubModelRef r, CancellationToken ct)
    {
        EnsureOnline(r);
        using var api = new HubApi(settings, transfer);
        string commit = await api.ResolveCommitAsync(r, ct);
        var files = (await api.ListFilesAsync(r, commit, r.Subfolder, ct)).Select(HubFile.From).ToList();
        var variants = ModelVariant.Find(files);
        if (variants.Count == 0)
        {
            string listed = string.Join(", ", files.Take(8).Select(f => f.Path)) + (files.Count > 8 ? $", … ({files.Count} files)" : "");
            throw new HubException($"no supported folder in {r}: no genai_config.json (an ONNX Runtime GenAI model-builder export is needed; " +
                $"the repository holds {(files.Count == 0 ? "no files" : listed)})");
        }
        var downloader = new BlobDownloader(api, cache, transfer, progress);
        RemoveStaleCheckFolders(r);
        string checkDir = Path.Combine(cache.RepoDirectory(r), $".onnxlm-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var blobs = new Dictionary<string, string>(StringComparer.Ordinal);
            ModelVariant? chosen = null;
            var refused = new List<string>();
            foreach (var candidate in variants)
            {
                // With no folder named, a GPU-named folder is only tried when nothing else is left.
                var config = candidate.Files.First(f => f.Name == ModelVariant.ConfigFile);
                var (blob, etag) = await downloader.EnsureAsync(r, commit, config, ct);
                blobs[config.Path] = etag;
                var gpu = ModelVariant.AcceleratorProviders(blob);
                if (gpu.Count > 0)
                {
                    refused.Add($"{candidate.DisplayName} (provider {string.Join(", ", gpu)})");
                    continue;
                }
                chosen = candidate;
                break;
            }
            if (chosen is null)
                throw new HubException($"no supported folder in {r}: every model-builder folder targets a GPU/NPU provider: {string.Join("; ", refused)}");
            var others = variants.Where(v => v != chosen).Select(v => $"{v.DisplayName} ({PullProgress.Bytes(v.Size)})").ToList();
            progress.Note($"{r}: commit {commit}, folder {chosen.DisplayName} ({chosen.Files.Count} files, {PullProgress.Bytes(chosen.Size)})" +
                (others.Count > 0 ? $"; other folders: {string.Join(", ", others)} (pick one with {r.Repo}:FOLDER)" : ""));

            // 1. The config alone: decoder-only, shared KV buffer, names the engine binds.
            Directory.CreateDirectory(checkDir);
            var configFile = chosen.Files.First(f => f.Name == ModelVariant.ConfigFile);
            LinkForCheck(checkDir, configFile, cache.BlobPath(r, blobs[configFile.Path]));
            var generation = chosen.Files.FirstOrDefault(f => f.Name == "generation_config.json");
            if (generation is not null)
            {
                var (g, etag) = await downloader.EnsureAsync(r, commit, generation, ct);
                blobs[generation.Path] = etag;
                LinkForCheck(checkDir, generation, g);
            }
            var decoder = Check(() => ModelConfig.Load(checkDir), r, chosen);
            // What ModelContract.Inspect would refuse from the config alone, refused before model.onnx is fetched.
            if (!decoder.PastPresentShareBuffer)
                throw Unsupported(r, chosen, "genai_config.json: search.past_present_share_buffer must be true; onnxlm binds one KV buffer as both past and present");
            if (decoder.NumKvHeads <= 0 || decoder.NumHeads % decoder.NumKvHeads != 0)
                throw Unsupported(r, chosen, $"genai_config.json: num_attention_heads {decoder.NumHeads} is not a multiple of num_key_value_heads {decoder.NumKvHeads}");

            // 2. Disk space for everything still missing, before the first large byte.
            var rest = chosen.Files.Where(f => !blobs.ContainsKey(f.Path)).ToList();
            CheckFreeSpace(r, rest);

            // 3. The other small files, then the graph against the contract (GQA, layer count, heads).
            var small = rest.Where(f => !ModelVariant.IsWeightData(f)).ToList();
            var large = rest.Where(ModelVariant.IsWeightData).ToList();
            // Progress counts what is not in blobs/ yet (a partial file's bytes count as done when it resumes).
            progress.Plan(rest.Where(f => new FileInfo(cache.BlobPath(r, f.Etag)) is not { Exists: true } b || b.Length != f.Size).Sum(f => f.Size));
            await FetchAsync(downloader, r, commit, small, blobs, ct);
            foreach (var f in small) LinkForCheck(checkDir, f, cache.BlobPath(r, blobs[f.Path]));
            Check(() => ModelContract.Inspect(checkDir), r, chosen);

            // 4. The weights.
            await FetchAsync(downloader, r, commit, large, blobs, ct);

            foreach (var f in chosen.Files.Where(f => f.Name != ModelVariant.ConfigFile))
                cache.LinkSnapshot(r, commit, f.Path, blobs[f.Path]);
            cache.LinkSnapshot(r, commit, configFile.Path, blobs[configFile.Path]);
            cache.WriteRef(r, commit);
            string folder = Path.Combine(cache.SnapshotDirectory(r, commit), chosen.Folder.Replace('/', Path.DirectorySeparatorChar));
            return new PullResult(folder, commit, chosen, variants, progress.FetchedBytes);
        }
        finally
        {
            try { if (Directory.Exists(checkDir)) Directory.Delete(checkDir, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>Check folders left by a pull that was killed (they hold only symlinks); those of live pulls are kept.</summary>
    void RemoveStaleCheckFolders(HubModelRef r)
    {
        string repoDir = cache.RepoDirectory(r);
        if (!Directory.Exists(repoDir)) return;
        foreach (string dir in Directory.EnumerateDirectories(repoDir, ".onnxlm-check-*"))
        {
            string[] parts = Path.GetFileName(dir).Split('-');
            if (parts.Length >= 4 && int.TryParse(parts[2], out int pid) && IsAlive(pid)) continue;
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }

    static bool IsAlive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static HubException Unsupported(HubModelRef r, ModelVariant v, string reason) =>
        new($"{r.Repo}:{v.DisplayName} cannot be served by onnxlm (checked before downloading the weights): {reason}");

    static T Check<T>(Func<T> check, HubModelRef r, ModelVariant v)
    {
        try
        {
            return check();
        }
        catch (ModelFormatException e)
        {
            throw Unsupported(r, v, e.Message);
        }
    }

    static void LinkForCheck(string checkDir, HubFile f, string blob)
    {
        string link = Path.Combine(checkDir, f.Name);
        if (!File.Exists(link)) File.CreateSymbolicLink(link, Path.GetFullPath(blob));
    }

    async Task FetchAsync(BlobDownloader downloader, HubModelRef r, string commit, List<HubFile> files, Dictionary<string, string> blobs, CancellationToken ct)
    {
        var found = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(files.OrderByDescending(f => f.Size), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, transfer.Parallel), CancellationToken = ct },
            async (f, token) => found[f.Path] = (await downloader.EnsureAsync(r, commit, f, token)).Etag);
        foreach (var (path, etag) in found) blobs[path] = etag;
    }

    void CheckFreeSpace(HubModelRef r, List<HubFile> files)
    {
        long needed = 0;
        foreach (var f in files)
        {
            if (f.IsLfs && new FileInfo(cache.BlobPath(r, f.Etag)) is { Exists: true } b && b.Length == f.Size) continue;
            long partial = f.IsLfs && new FileInfo(cache.BlobPath(r, f.Etag) + ".incomplete") is { Exists: true } p ? Math.Min(p.Length, f.Size) : 0;
            needed += f.Size - partial;
        }
        if (needed == 0) return;
        string dir = cache.BlobsDirectory(r);
        Directory.CreateDirectory(dir);
        long free = transfer.FreeSpace?.Invoke(dir) ?? new DriveInfo(Path.GetFullPath(dir)).AvailableFreeSpace;
        const long Margin = 64L << 20; // leave room for the file system and other writers
        if (needed + Margin > free)
            throw new HubException($"not enough disk space for {r} in {dir}: {PullProgress.Bytes(needed)} to download (+{PullProgress.Bytes(Margin)} margin), {PullProgress.Bytes(free)} free");
    }
}
