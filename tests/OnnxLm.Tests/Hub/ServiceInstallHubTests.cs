using OnnxLm.Hosting;

namespace OnnxLm.Tests.Hub;

/// <summary><c>service install</c> with a repository as the config's model: the unit serves it offline from the cache
/// the install pulled into (the pull itself is tested in <see cref="PullTests"/>).</summary>
public class ServiceInstallHubTests
{
    [Test]
    public async Task A_repository_model_makes_the_service_serve_offline_from_the_hugging_face_cache()
    {
        string config = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, "{\"model\": \"test-org/tiny-onnx:cpu\"}");
        try
        {
            var context = TestContext.Current!;
            int outStart = context.GetStandardOutput().Length, errorStart = context.GetErrorOutput().Length;
            int code = await Program.Main(["service", "install", "--dry-run", "--platform", "systemd", "--binary", "/usr/local/bin/onnxlm", "--config", config]);
            await Console.Out.FlushAsync();
            await Console.Error.FlushAsync();
            string output = context.GetStandardOutput()[outStart..], error = context.GetErrorOutput()[errorStart..];
            await Assert.That(code).IsEqualTo(0);
            await Assert.That(error).Contains("would pull test-org/tiny-onnx:cpu into ");
            await Assert.That(output).Contains($"ExecStart=/usr/local/bin/onnxlm serve --config {config} --offline");
            await Assert.That(output).Contains("Environment=HF_HUB_OFFLINE=1");
            await Assert.That(output).Contains("Environment=HF_HUB_CACHE=");
        }
        finally { File.Delete(config); }
    }

    [Test]
    public async Task The_launchd_plist_carries_the_cache_and_offline_variables()
    {
        var spec = new ServiceSpec("/usr/local/bin/onnxlm", "/etc/onnxlm.json", ServiceScope.User, "/Users/me", HubCache: "/Users/me/.cache/huggingface/hub");
        string plist = ServiceFiles.RenderLaunchdPlist(spec);
        await Assert.That(plist).Contains("<key>HF_HUB_CACHE</key>\n    <string>/Users/me/.cache/huggingface/hub</string>");
        await Assert.That(plist).Contains("<key>HF_HUB_OFFLINE</key>\n    <string>1</string>");
        await Assert.That(plist).Contains("<string>--offline</string>");
        string folderModel = ServiceFiles.RenderLaunchdPlist(spec with { HubCache = null });
        await Assert.That(folderModel).DoesNotContain("HF_HUB").And.DoesNotContain("--offline");
    }
}
