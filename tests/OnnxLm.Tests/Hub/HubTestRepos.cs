using System.Text.Json.Nodes;
using OnnxLm.Builder;
using OnnxLm.Hub;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Hub;

/// <summary>
/// Model folders for the fake hub, made by the project's model builder: the tiny model with its weights in
/// <c>model.onnx.data</c> (so a cache snapshot holds the symlinked external data ORT refuses), a GPU copy whose
/// genai_config names the CUDA provider, and a copy whose config fails the engine's contract.
/// </summary>
internal static class HubTestRepos
{
    public const string CpuFolder = "cpu_and_mobile/cpu-int4-rtn-block-32-acc-level-4";
    public const string GpuFolder = "gpu/gpu-int4-rtn-block-32";

    static readonly Lazy<string> Tiny = new(() => TestModels.Get(ModelBuilderOptions.Tiny with { ExternalDataThreshold = 0 }));
    static readonly Lazy<string> Gpu = new(() => Derived("gpu", config => config["model"]!["decoder"]!["session_options"] =
        new JsonObject { ["provider_options"] = new JsonArray(new JsonObject { ["cuda"] = new JsonObject() }) }));
    static readonly Lazy<string> NoSharedBuffer = new(() => Derived("noshare", config => config["search"]!["past_present_share_buffer"] = false));

    /// <summary>The tiny fp32 model with external data.</summary>
    public static string TinyFolder => Tiny.Value;

    static string Derived(string tag, Action<JsonNode> edit)
    {
        string dir = Path.Combine(Path.GetTempPath(), "onnxlm-hub-test-repos", tag + "-" + Path.GetFileName(Tiny.Value));
        if (File.Exists(Path.Combine(dir, "genai_config.json"))) return dir;
        string temp = dir + ".tmp-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(temp);
        foreach (string f in Directory.EnumerateFiles(Tiny.Value))
            if (Path.GetFileName(f) != "genai_config.json") File.Copy(f, Path.Combine(temp, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny.Value, "genai_config.json")))!;
        edit(config);
        File.WriteAllText(Path.Combine(temp, "genai_config.json"), config.ToJsonString());
        try { Directory.Move(temp, dir); }
        catch (IOException) { Directory.Delete(temp, true); }
        return dir;
    }

    /// <summary>A repository with a CPU folder, a GPU folder and a README at the root.</summary>
    public static FakeRepo CpuAndGpu(FakeHub hub, string id = "test-org/tiny-onnx")
    {
        var repo = new FakeRepo(id).AddFolder(CpuFolder, Tiny.Value).AddFolder(GpuFolder, Gpu.Value);
        repo.AddFile("README.md", Path.Combine(Tiny.Value, "tokenizer_config.json"), lfs: false);
        return hub.Add(repo);
    }

    public static FakeRepo GpuOnly(FakeHub hub) => hub.Add(new FakeRepo("test-org/gpu-only").AddFolder(GpuFolder, Gpu.Value));

    public static FakeRepo Unsupported(FakeHub hub) => hub.Add(new FakeRepo("test-org/no-shared-kv").AddFolder("cpu", NoSharedBuffer.Value));

    /// <summary>An onnx-community style export: model.onnx and config.json, no genai_config.json.</summary>
    public static FakeRepo NoGenAiConfig(FakeHub hub)
    {
        var repo = new FakeRepo("test-org/onnx-community-style");
        repo.AddFile("onnx/model.onnx", Path.Combine(Tiny.Value, "model.onnx"), lfs: true);
        repo.AddFile("config.json", Path.Combine(Tiny.Value, "tokenizer_config.json"), lfs: false);
        return hub.Add(repo);
    }

    /// <summary>A fresh cache folder and the settings of a client of <paramref name="hub"/>.</summary>
    public static HubSettings Settings(FakeHub hub, string cache, bool token = true) => new()
    {
        Endpoint = hub.Endpoint,
        Token = token ? FakeHub.Token : null,
        CacheDirectory = cache,
    };

    public static string NewCache() => Path.Combine(Path.GetTempPath(), "onnxlm-hub-cache-" + Guid.NewGuid().ToString("N"));

    /// <summary>Short waits so fault tests stay quick: retries after 20 ms, a stall is 1 s without a byte.</summary>
    public static HubTransferOptions Fast => new()
    {
        FirstBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        StallTimeout = TimeSpan.FromSeconds(1),
        MaxAttempts = 5,
    };
}
