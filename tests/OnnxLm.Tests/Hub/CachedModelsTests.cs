using OnnxLm.Cli;

namespace OnnxLm.Tests.Hub;

/// <summary><c>onnxlm models</c> and <c>onnxlm rm</c> on a cache filled by a pull.</summary>
public class CachedModelsTests
{
    [Test]
    public async Task Models_lists_pulled_folders_with_commit_size_and_whether_they_serve_and_rm_removes_the_repository()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        var unsupported = HubTestRepos.Unsupported(hub);
        string cache = HubTestRepos.NewCache();
        var run = await PullTests.Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(0);
        // A folder that fails the contract, put in the cache by another tool.
        string other = Path.Combine(cache, "models--test-org--no-shared-kv", "snapshots", unsupported.Commit, "cpu");
        Directory.CreateDirectory(other);
        foreach (var f in unsupported.Files.Values) File.Copy(f.Source, Path.Combine(other, Path.GetFileName(f.Path)));

        var settings = HubTestRepos.Settings(hub, cache);
        var output = new StringWriter();
        await Assert.That(PullCommand.RunModels(["models"], output, settings)).IsEqualTo(0);
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string pulled = lines.Single(l => l.StartsWith(repo.Id, StringComparison.Ordinal));
        await Assert.That(pulled).Contains(HubTestRepos.CpuFolder).And.Contains(repo.Commit[..12]).And.Contains("KiB").And.EndsWith("yes");
        string refused = lines.Single(l => l.StartsWith("test-org/no-shared-kv", StringComparison.Ordinal));
        await Assert.That(refused).Contains("no: ").And.Contains("past_present_share_buffer");

        output = new StringWriter();
        await Assert.That(PullCommand.RunRm(["rm", repo.Id], output, settings)).IsEqualTo(0);
        await Assert.That(output.ToString()).Contains("removed " + repo.Id);
        await Assert.That(Directory.Exists(Path.Combine(cache, "models--test-org--tiny-onnx"))).IsFalse();
        await Assert.That(Directory.Exists(Path.Combine(cache, ".locks", "models--test-org--tiny-onnx"))).IsFalse();
        await Assert.ThrowsAsync<UsageException>(() => Task.FromResult(PullCommand.RunRm(["rm", repo.Id], new StringWriter(), settings)));
    }
}
