using System.Diagnostics;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Hub;

/// <summary>
/// <c>onnxlm pull</c> behind a corporate proxy: the standard variables (<c>HTTPS_PROXY</c>/<c>HTTP_PROXY</c>,
/// <c>NO_PROXY</c>) are honoured for the Hub and the CDN it redirects to, as curl and huggingface_hub honour them.
/// Run as a process: .NET reads the variables once per process.
/// </summary>
public class ProxyTests
{
    static async Task<(int Code, string Out, string Error)> PullThrough(FakeHub hub, string cache, string repo, RecordingProxy proxy, string? noProxy)
    {
        var info = ServeFromCacheTests.Onnxlm(hub, cache, "pull", repo);
        foreach (string name in info.Environment.Keys.Where(k => k.EndsWith("_proxy", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(name);
        // The fake hub speaks http, so HTTP_PROXY is the variable that applies to it; HTTPS_PROXY is set alike, as users do.
        info.Environment["HTTP_PROXY"] = proxy.Address.ToString();
        info.Environment["HTTPS_PROXY"] = proxy.Address.ToString();
        if (noProxy is not null) info.Environment["NO_PROXY"] = noProxy;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return (process.ExitCode, await stdout, await stderr);
    }

    [Test]
    public async Task Pull_goes_through_the_proxy_the_environment_names()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        await using var proxy = new RecordingProxy();
        var (code, _, error) = await PullThrough(hub, HubTestRepos.NewCache(), repo.Id, proxy, noProxy: null);
        await Assert.That(code).IsEqualTo(0).Because(error);
        var lines = proxy.RequestLines.ToArray();
        // The API calls and the file downloads (hub and CDN alike) all went through it, in absolute form.
        await Assert.That(lines.Any(l => l.StartsWith("GET http://", StringComparison.Ordinal) && l.Contains($"/api/models/{repo.Id}/revision/", StringComparison.Ordinal))).IsTrue();
        var data = repo.Files[HubTestRepos.CpuFolder + "/model.onnx.data"];
        await Assert.That(lines.Any(l => l.StartsWith("GET http://", StringComparison.Ordinal) && l.Contains(data.Sha256, StringComparison.Ordinal))).IsTrue();
        await Assert.That(lines.Length).IsGreaterThanOrEqualTo(hub.Requests.Count);
    }

    [Test]
    public async Task No_proxy_hosts_are_reached_directly()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        await using var proxy = new RecordingProxy();
        var (code, _, error) = await PullThrough(hub, HubTestRepos.NewCache(), repo.Id, proxy, noProxy: "127.0.0.1,localhost");
        await Assert.That(code).IsEqualTo(0).Because(error);
        await Assert.That(proxy.RequestLines.Count).IsEqualTo(0);
        await Assert.That(hub.Requests.Count).IsGreaterThan(0);
    }
}
