using System.Globalization;
using OnnxLm.Hub;

namespace OnnxLm.Cli;

/// <summary><c>onnxlm pull ORG/NAME[:SUBFOLDER][@REVISION]</c>, <c>onnxlm models</c> and <c>onnxlm rm ORG/NAME</c>: the
/// Hub cache from the command line. Notes and progress go to stderr; <c>pull</c>'s last stdout line is the folder.</summary>
internal static class PullCommand
{
    public const string Help = """
        onnxlm pull ORG/NAME[:FOLDER][@REVISION] [--list]
                                        download a model-builder folder from the Hugging Face Hub into its cache, verified
                                        (without :FOLDER the best CPU folder; --list prints the folders and exits);
                                        the last line printed is the local folder
        onnxlm models                   the cached model folders (repository, folder, commit, size, servable or why not)
        onnxlm rm ORG/NAME              remove a repository from the cache
          environment: HF_ENDPOINT, HF_TOKEN (else $HF_HOME/token), HF_HUB_CACHE (else $HF_HOME/hub, else
          ~/.cache/huggingface/hub), HF_HUB_OFFLINE, HTTPS_PROXY / NO_PROXY
        """;

    public static async Task<int> RunPullAsync(string[] args, TextWriter stdout, TextWriter stderr, HubSettings? settings = null,
        HubTransferOptions? transfer = null, CancellationToken ct = default)
    {
        if (args.Length >= 2 && args[1] is "--help" or "-h")
        {
            stdout.WriteLine(Help);
            return 0;
        }
        string? model = null;
        bool list = false;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--list") list = true;
            else if (args[i].StartsWith('-')) throw new UsageException($"unknown option '{args[i]}' for pull");
            else if (model is null) model = args[i];
            else throw new UsageException($"pull takes one repository (got '{model}' and '{args[i]}')");
        }
        if (model is null) throw new UsageException("pull needs a repository: onnxlm pull ORG/NAME[:FOLDER][@REVISION]");
        if (!HubModelRef.TryParse(model, out var r))
            throw new UsageException($"'{model}' is not a repository reference (ORG/NAME[:FOLDER][@REVISION])");
        settings ??= HubSettings.FromEnvironment();
        using var progress = new PullProgress(stderr, ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected);
        transfer = (transfer ?? new HubTransferOptions()) with { Note = progress.Note };
        var puller = new ModelPuller(settings, transfer, progress);
        if (list)
        {
            var (commit, variants) = await puller.ListAsync(r, ct);
            stdout.WriteLine($"{r.Repo} at {commit}:");
            if (variants.Count == 0) stdout.WriteLine("  no model-builder folder (no genai_config.json)");
            for (int i = 0; i < variants.Count; i++)
                stdout.WriteLine($"  {variants[i].DisplayName,-60} {PullProgress.Bytes(variants[i].Size),12}" +
                    (variants[i].NamedForAccelerator ? "  (GPU/NPU)" : i == 0 ? "  (default)" : ""));
            return 0;
        }
        var result = await puller.PullAsync(r, ct);
        progress.Dispose();
        stderr.WriteLine($"pulled {r} ({PullProgress.Bytes(result.Variant.Size)}, {PullProgress.Bytes(result.FetchedBytes)} downloaded now)");
        stdout.WriteLine(result.Folder);
        return 0;
    }

    public static int RunModels(string[] args, TextWriter stdout, HubSettings? settings = null)
    {
        if (args.Length >= 2 && args[1] is "--help" or "-h") { stdout.WriteLine(Help); return 0; }
        if (args.Length > 1) throw new UsageException($"unknown argument '{args[1]}' for models");
        settings ??= HubSettings.FromEnvironment();
        var models = CachedModels.List(new HubCache(settings.CacheDirectory));
        if (models.Count == 0)
        {
            stdout.WriteLine($"no model folders in {settings.CacheDirectory}");
            return 0;
        }
        stdout.WriteLine($"{"REPOSITORY",-40} {"FOLDER",-45} {"COMMIT",-12} {"SIZE",10}  SERVABLE");
        foreach (var m in models)
            stdout.WriteLine($"{m.Repo,-40} {m.Folder,-45} {m.Commit[..Math.Min(12, m.Commit.Length)],-12} {PullProgress.Bytes(m.Size),10}  " +
                (m.Problem is null ? "yes" : "no: " + m.Problem));
        return 0;
    }

    public static int RunRm(string[] args, TextWriter stdout, HubSettings? settings = null)
    {
        if (args.Length >= 2 && args[1] is "--help" or "-h") { stdout.WriteLine(Help); return 0; }
        if (args.Length != 2) throw new UsageException("rm takes one repository: onnxlm rm ORG/NAME");
        if (!HubModelRef.TryParse(args[1], out var r) || r.Subfolder is not null || r.Revision != "main")
            throw new UsageException($"'{args[1]}' is not a repository name (ORG/NAME)");
        settings ??= HubSettings.FromEnvironment();
        var cache = new HubCache(settings.CacheDirectory);
        string dir = cache.RepoDirectory(r);
        if (!Directory.Exists(dir)) throw new UsageException($"{r.Repo} is not in the cache ({settings.CacheDirectory})");
        long size = Directory.EnumerateFiles(Path.Combine(dir), "*", SearchOption.AllDirectories)
            .Select(f => new FileInfo(f)).Where(f => f.LinkTarget is null).Sum(f => f.Length);
        Directory.Delete(dir, recursive: true);
        string locks = Path.Combine(cache.Root, ".locks", r.CacheFolderName);
        if (Directory.Exists(locks)) Directory.Delete(locks, recursive: true);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"removed {r.Repo} ({PullProgress.Bytes(size)}) from {cache.Root}"));
        return 0;
    }
}
