using System.Text.Json;

namespace OnnxLm.Hub;

/// <summary>
/// A model-builder folder of a repository: a folder holding <c>genai_config.json</c> and its files. Without an explicit
/// folder, CPU variants are preferred in this order: <c>cpu_and_mobile</c>, <c>cpu-int4-…-acc-level-4</c>, other int4,
/// fp32, the rest; folders named for a GPU or NPU come last and are refused once their config names such a provider.
/// </summary>
internal sealed record ModelVariant(string Folder, IReadOnlyList<HubFile> Files)
{
    public const string ConfigFile = "genai_config.json";

    static readonly string[] AcceleratorWords = ["gpu", "cuda", "dml", "directml", "webgpu", "rocm", "tensorrt", "trt", "npu", "qnn", "migraphx", "openvino"];

    public long Size => Files.Sum(f => f.Size);

    public string DisplayName => Folder.Length == 0 ? "(repository root)" : Folder;

    /// <summary>The folder's name names a GPU/NPU (cuda, dml, webgpu, …).</summary>
    public bool NamedForAccelerator => Words(Folder).Any(w => AcceleratorWords.Contains(w));

    static IEnumerable<string> Words(string path) =>
        path.ToLowerInvariant().Split(['/', '-', '_', '.'], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Preference: lower is better.</summary>
    public (int, int, int, int, int, string) Rank
    {
        get
        {
            string p = Folder.ToLowerInvariant();
            var words = Words(Folder).ToHashSet(StringComparer.Ordinal);
            bool int4 = words.Contains("int4");
            return (NamedForAccelerator ? 1 : 0, p.Contains("cpu_and_mobile", StringComparison.Ordinal) ? 0 : 1,
                words.Contains("cpu") && int4 && p.Contains("acc-level-4", StringComparison.Ordinal) ? 0 : 1,
                int4 ? 0 : 1, words.Contains("fp32") ? 0 : 1, Folder);
        }
    }

    /// <summary>The model-builder folders of a file listing, best first.</summary>
    public static List<ModelVariant> Find(IReadOnlyList<HubFile> files)
    {
        var folders = files.Where(f => f.Name == ConfigFile).Select(f => Parent(f.Path)).ToList();
        return folders
            .Select(folder => new ModelVariant(folder, files.Where(f => Parent(f.Path) == folder).OrderBy(f => f.Path, StringComparer.Ordinal).ToList()))
            .OrderBy(v => v.Rank)
            .ToList();
    }

    static string Parent(string path) => path.LastIndexOf('/') is var i and >= 0 ? path[..i] : "";

    /// <summary>Execution providers other than the CPU named by <c>model.decoder.session_options.provider_options</c>.</summary>
    public static List<string> AcceleratorProviders(string configPath)
    {
        var found = new List<string>();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object
                && model.TryGetProperty("decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object
                && decoder.TryGetProperty("session_options", out var session) && session.ValueKind == JsonValueKind.Object
                && session.TryGetProperty("provider_options", out var providers) && providers.ValueKind == JsonValueKind.Array)
                foreach (var entry in providers.EnumerateArray())
                    if (entry.ValueKind == JsonValueKind.Object)
                        foreach (var p in entry.EnumerateObject())
                            if (!p.Name.Equals("cpu", StringComparison.OrdinalIgnoreCase)) found.Add(p.Name);
        }
        catch (JsonException) { } // ModelConfig.Load reports a broken file with its own message
        return found;
    }

    /// <summary>Files fetched before anything large: the config (checked first) and every other file that is not
    /// external weight data.</summary>
    public static bool IsWeightData(HubFile f) =>
        f.Name.EndsWith(".data", StringComparison.Ordinal) || f.Name.EndsWith("_data", StringComparison.Ordinal);
}
