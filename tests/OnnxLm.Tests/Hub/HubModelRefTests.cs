using OnnxLm.Hub;

namespace OnnxLm.Tests.Hub;

public class HubModelRefTests
{
    [Test]
    [Arguments("microsoft/Phi-4-mini-instruct-onnx", "microsoft/Phi-4-mini-instruct-onnx", null, "main")]
    [Arguments("org/name:cpu_and_mobile/cpu-int4@v1.0", "org/name", "cpu_and_mobile/cpu-int4", "v1.0")]
    [Arguments("org/name@0123456789abcdef0123456789abcdef01234567", "org/name", null, "0123456789abcdef0123456789abcdef01234567")]
    public async Task Parses_repository_folder_and_revision(string text, string repo, string? sub, string rev)
    {
        await Assert.That(HubModelRef.TryParse(text, out var r)).IsTrue();
        await Assert.That(r.Repo).IsEqualTo(repo);
        await Assert.That(r.Subfolder).IsEqualTo(sub);
        await Assert.That(r.Revision).IsEqualTo(rev);
        await Assert.That(r.CacheFolderName).IsEqualTo("models--" + repo.Replace("/", "--"));
    }

    [Test]
    [Arguments("/abs/path")]
    [Arguments("./org/name")]
    [Arguments("~/models/x")]
    [Arguments("just-a-name")]
    [Arguments("a/b/c")]
    [Arguments("org/name:../../etc")]
    public async Task Paths_and_malformed_names_are_not_references(string text) =>
        await Assert.That(HubModelRef.TryParse(text, out _)).IsFalse();

    [Test]
    public async Task Settings_follow_huggingface_hub_variables()
    {
        string home = Path.Combine(Path.GetTempPath(), "onnxlm-hfhome-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        await File.WriteAllTextAsync(Path.Combine(home, "token"), "hf_from_file\n");
        var env = new Dictionary<string, string> { ["HF_HOME"] = home, ["HF_ENDPOINT"] = "http://127.0.0.1:9/", ["HF_HUB_OFFLINE"] = "1" };
        var s = HubSettings.FromEnvironment(n => env.GetValueOrDefault(n));
        await Assert.That(s.Token).IsEqualTo("hf_from_file");
        await Assert.That(s.CacheDirectory).IsEqualTo(Path.Combine(home, "hub"));
        await Assert.That(s.Endpoint.ToString()).IsEqualTo("http://127.0.0.1:9/");
        await Assert.That(s.Offline).IsTrue();
        env["HF_TOKEN"] = "hf_env";
        env["HF_HUB_CACHE"] = "/x/cache";
        s = HubSettings.FromEnvironment(n => env.GetValueOrDefault(n));
        await Assert.That(s.Token).IsEqualTo("hf_env");
        await Assert.That(s.CacheDirectory).IsEqualTo("/x/cache");
        Directory.Delete(home, true);
    }
}

public class HubModelConfigTests
{
    [Test]
    public async Task Onnxlm_model_and_the_config_file_take_repository_references_and_offline()
    {
        var env = new Dictionary<string, string> { ["ONNXLM_MODEL"] = "org/name:cpu@v1", ["ONNXLM_OFFLINE"] = "1" };
        var options = OnnxLm.Cli.ServeConfig.Load([], 0, env, null).Options;
        await Assert.That(options.Model).IsEqualTo("org/name:cpu@v1");
        await Assert.That(options.Offline).IsTrue();
        string file = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, "{\"model\": \"microsoft/Phi-4-mini-instruct-onnx\", \"offline\": true}");
        try
        {
            options = OnnxLm.Cli.ServeConfig.Load(["--config", file], 0, new Dictionary<string, string>(), null).Options;
            await Assert.That(options.Model).IsEqualTo("microsoft/Phi-4-mini-instruct-onnx");
            await Assert.That(options.Offline).IsTrue();
        }
        finally { File.Delete(file); }
    }
}
