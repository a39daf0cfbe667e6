namespace OnnxLm.Hub;

/// <summary>
/// Turns <c>serve --model</c> into a folder the engine can load: a folder path as it is (a cache snapshot folder through
/// its hard-link view, see <see cref="ServableFolder"/>), a repository reference from the cache, pulled first when
/// missing unless offline.
/// </summary>
internal static class ModelSource
{
    public static async Task<string> ResolveAsync(string model, bool offline, HubSettings? settings, PullProgress? progress,
        Action<string> note, CancellationToken ct)
    {
        if (!HubModelRef.TryParse(model, out var r)) return ServableFolder.Prepare(model, note);
        settings ??= HubSettings.FromEnvironment();
        if (offline) settings = settings with { Offline = true };
        var cache = new HubCache(settings.CacheDirectory);
        if (CachedModels.Find(cache, r, out string missing) is { } folder)
        {
            note($"model {r}: from the cache, {folder}");
            return ServableFolder.Prepare(folder, note);
        }
        if (settings.Offline)
            throw new HubException($"offline (--offline or HF_HUB_OFFLINE=1) and {missing} ({cache.Root}): run `onnxlm pull {r}` while online");
        note($"model {r}: {missing}; pulling it from {settings.Endpoint}");
        using var own = progress is null ? new PullProgress(Console.Error, !Console.IsErrorRedirected) : null;
        var result = await new ModelPuller(settings, new HubTransferOptions { Note = note }, progress ?? own!).PullAsync(r, ct);
        return ServableFolder.Prepare(result.Folder, note);
    }
}
