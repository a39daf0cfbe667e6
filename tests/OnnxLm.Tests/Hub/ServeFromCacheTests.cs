using System.Diagnostics;
using System.Text.RegularExpressions;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Hub;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Hub;

/// <summary>
/// Serving what a pull put in the cache: ONNX Runtime refuses a snapshot folder as it is (its <c>model.onnx.data</c> is a
/// symlink into <c>blobs/</c>, outside the folder), so <c>serve</c> loads it through hard links; a repository name is
/// served from the cache offline; a pull killed mid-file resumes where the file stopped.
/// </summary>
public partial class ServeFromCacheTests
{
    static async Task<(FakeHub Hub, FakeRepo Repo, string Cache, string Snapshot)> PulledAsync()
    {
        var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var run = await PullTests.Pull(hub, cache, [repo.Id]);
        if (run.Code != 0) throw new InvalidOperationException(run.Error);
        return (hub, repo, cache, run.LastLine);
    }

    static string? LoadError(string folder)
    {
        try
        {
            InferenceEngine.Start(new EngineOptions { ModelDirectory = folder, Threads = 1, SsdCache = false, HugePages = false, MaxBatchSize = 1 }).Dispose();
            return null;
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }

    /// <summary>ONNX Runtime 1.31's rule, pinned: external data must resolve into the folder of the *resolved* model
    /// file. A pristine snapshot passes only because model.onnx is itself a symlink into the same blobs/ folder; a
    /// snapshot whose model.onnx is a plain file (edited, replaced, or a copy) is refused.</summary>
    [Test]
    public async Task Onnx_runtime_refuses_external_data_resolved_outside_the_model_files_folder()
    {
        var (hub, _, _, snapshot) = await PulledAsync();
        await using var _h = hub;
        await Assert.That(new FileInfo(Path.Combine(snapshot, "model.onnx.data")).LinkTarget).StartsWith("../../../../blobs/");
        await Assert.That(LoadError(snapshot)).IsNull();
        MakeModelFilePlain(snapshot);
        await Assert.That(LoadError(snapshot)).Contains("External data path escapes model directory");
    }

    static void MakeModelFilePlain(string snapshot)
    {
        string model = Path.Combine(snapshot, "model.onnx");
        string real = new FileInfo(model).ResolveLinkTarget(true)!.FullName;
        File.Delete(model);
        File.Copy(real, model);
    }

    [Test]
    public async Task Serve_loads_a_snapshot_ort_refuses_through_hard_links_and_completes()
    {
        var (hub, _, _, snapshot) = await PulledAsync();
        await using var _h = hub;
        MakeModelFilePlain(snapshot);
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = snapshot);
        using var client = ServerFixture.CreateClient(server);
        using var response = await OpenAiWire.PostAsync(client, "/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":3}");
        await Assert.That((int)response.StatusCode).IsEqualTo(200).Because(await response.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task Serve_loads_a_symlinked_snapshot_folder_through_hard_links_and_completes()
    {
        var (hub, repo, cache, snapshot) = await PulledAsync();
        await using var _h = hub;
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = snapshot);
        using var client = ServerFixture.CreateClient(server);
        using var response = await OpenAiWire.PostAsync(client, "/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":4,\"ignore_eos\":true}");
        string body = await response.Content.ReadAsStringAsync();
        await Assert.That((int)response.StatusCode).IsEqualTo(200).Because(body);
        await Assert.That(body).Contains("\"completion_tokens\":4");
        // The view shares the blobs' inodes: no bytes were copied.
        string view = Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), ServableFolder.ViewFolderName, repo.Commit, HubTestRepos.CpuFolder);
        string blob = Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), "blobs", repo.Files[HubTestRepos.CpuFolder + "/model.onnx.data"].Sha256);
        await Assert.That(new FileInfo(Path.Combine(view, "model.onnx.data")).LinkTarget).IsNull();
        await Assert.That(LinkCount(Path.Combine(view, "model.onnx.data"))).IsEqualTo(LinkCount(blob)).And.IsGreaterThanOrEqualTo(2);
    }

    [Test]
    public async Task An_edited_snapshot_file_is_served_from_a_rebuilt_view_and_an_unchanged_one_reuses_the_view()
    {
        var (hub, repo, _, snapshot) = await PulledAsync();
        await using var _h = hub;
        var notes = new List<string>();
        string view = ServableFolder.Prepare(snapshot, notes.Add);
        await Assert.That(view).IsNotEqualTo(snapshot);
        string viewConfig = Path.Combine(view, "genai_config.json");
        var before = File.GetLastWriteTimeUtc(viewConfig);
        await Assert.That(ServableFolder.Prepare(snapshot, notes.Add)).IsEqualTo(view);
        await Assert.That(notes.Any(n => n.Contains("rebuilt", StringComparison.Ordinal))).IsFalse();

        // A user edits the config in the snapshot (the symlink becomes a plain file, as editors and `sed -i` leave it).
        string config = Path.Combine(snapshot, "genai_config.json");
        string edited = (await File.ReadAllTextAsync(config)) + "\n";
        File.Delete(config);
        await File.WriteAllTextAsync(config, edited);
        await Assert.That(ServableFolder.Prepare(snapshot, notes.Add)).IsEqualTo(view);
        await Assert.That(notes.Any(n => n.Contains("rebuilt", StringComparison.Ordinal))).IsTrue();
        await Assert.That(await File.ReadAllTextAsync(viewConfig)).IsEqualTo(edited);
        // The other files are still hard links to their blobs, and the old view left nothing behind.
        await Assert.That(LinkCount(Path.Combine(view, "model.onnx.data"))).IsGreaterThanOrEqualTo(2);
        await Assert.That(Directory.EnumerateDirectories(Path.GetDirectoryName(view)!).Count(d => d.Contains(".old-", StringComparison.Ordinal) || d.Contains(".tmp-", StringComparison.Ordinal))).IsEqualTo(0);
        await Assert.That(File.GetLastWriteTimeUtc(viewConfig)).IsNotEqualTo(before);
    }

    static long LinkCount(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%h %i", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string[] parts = p.StandardOutput.ReadToEnd().Trim().Split(' ');
        p.WaitForExit();
        return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex ListeningLine();

    internal static ProcessStartInfo Onnxlm(FakeHub hub, string cache, params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "onnxlm"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string name in info.Environment.Keys.Where(k => k.StartsWith("ONNXLM_", StringComparison.Ordinal) || k.StartsWith("HF_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        info.Environment["XDG_CONFIG_HOME"] = Path.Combine(Path.GetTempPath(), $"onnxlm-xdg-{Guid.NewGuid():N}");
        info.Environment["HF_ENDPOINT"] = hub.Endpoint.ToString();
        info.Environment["HF_HUB_CACHE"] = cache;
        info.Environment["HF_TOKEN"] = FakeHub.Token;
        foreach (string a in args) info.ArgumentList.Add(a);
        return info;
    }

    [Test]
    public async Task Serve_model_org_name_offline_serves_the_cached_repository_under_its_name()
    {
        var (hub, repo, cache, _) = await PulledAsync();
        await using var _h = hub;
        int before = hub.Requests.Count;
        using var process = Process.Start(Onnxlm(hub, cache, "serve", "--model", repo.Id, "--offline", "--port", "0", "--threads", "1", "--no-ssd-cache"))!;
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null && ListeningLine().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value); };
        process.BeginOutputReadLine();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(await address.Task.WaitAsync(TimeSpan.FromSeconds(60))), Timeout = TimeSpan.FromSeconds(60) };
            string models = "";
            for (int i = 0; i < 600 && !models.Contains("\"data\":[{", StringComparison.Ordinal); i++)
            {
                using var ready = await client.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode) models = await client.GetStringAsync("/v1/models");
                else await Task.Delay(50);
            }
            await Assert.That(models).Contains($"\"id\":\"{repo.Id}\"");
            using var response = await OpenAiWire.PostAsync(client, "/v1/completions", $"{{\"model\":\"{repo.Id}\",\"prompt\":\"hi\",\"max_tokens\":2}}");
            await Assert.That((int)response.StatusCode).IsEqualTo(200);
            await Assert.That(hub.Requests.Count).IsEqualTo(before); // offline: the hub never heard of it
        }
        finally
        {
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync();
        }
    }

    [Test]
    public async Task Serve_with_a_missing_repository_exits_2_online_and_offline_saying_what_is_missing()
    {
        await using var hub = await FakeHub.StartAsync();
        string cache = HubTestRepos.NewCache();
        using var process = Process.Start(Onnxlm(hub, cache, "serve", "--model", "test-org/absent", "--port", "0", "--threads", "1", "--no-ssd-cache"))!;
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        // Online: the process asked the hub, which said RepoNotFound.
        await Assert.That(process.ExitCode).IsEqualTo(2);
        await Assert.That(error).Contains("repository test-org/absent not found").And.Contains("and there is no folder ");
        var offline = Onnxlm(hub, cache, "serve", "--model", "test-org/absent", "--port", "0", "--threads", "1", "--no-ssd-cache");
        offline.Environment["HF_HUB_OFFLINE"] = "1";
        int requests = hub.Requests.Count;
        using var p2 = Process.Start(offline)!;
        string error2 = await p2.StandardError.ReadToEndAsync();
        await p2.WaitForExitAsync();
        await Assert.That(p2.ExitCode).IsEqualTo(2);
        await Assert.That(error2).Contains("offline").And.Contains("test-org/absent is not in the cache");
        await Assert.That(hub.Requests.Count).IsEqualTo(requests);
    }

    [Test]
    public async Task A_pull_process_killed_mid_file_fetches_only_the_rest_when_run_again()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        const long Held = 200_000;
        hub.HoldAfterBytes = Held;
        using var process = Process.Start(Onnxlm(hub, cache, "pull", repo.Id))!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var data = repo.Files[HubTestRepos.CpuFolder + "/model.onnx.data"];
        string partial = Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), "blobs", data.Sha256 + ".incomplete");
        await hub.Held.Task.WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < 2000 && (!File.Exists(partial) || new FileInfo(partial).Length < Held); i++) await Task.Delay(10);
        process.Kill();
        await process.WaitForExitAsync();
        await Assert.That(new FileInfo(partial).Length).IsEqualTo(Held);

        var run = await PullTests.Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(0).Because(run.Error);
        var gets = hub.Requests.Where(r => r.Server == "cdn" && r.Method == "GET" && r.Path.EndsWith(data.Sha256, StringComparison.Ordinal)).ToList();
        await Assert.That(gets.Count).IsEqualTo(2);
        await Assert.That(gets[1].Range).IsEqualTo($"bytes={Held}-");
        await Assert.That(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(run.LastLine, "model.onnx.data")))))
            .IsEqualTo(data.Sha256);
    }

    [Test]
    [Arguments("TERM")]
    [Arguments("INT")]
    public async Task A_signal_while_serve_is_pulling_its_model_stops_at_once_and_keeps_the_partial_file(string signal)
    {
        if (OperatingSystem.IsWindows()) return;
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        const long Held = 200_000;
        hub.HoldAfterBytes = Held;   // the download hangs after this many bytes: only the signal can end the start
        using var process = Process.Start(Onnxlm(hub, cache, "serve", "--model", repo.Id, "--port", "0", "--threads", "1", "--no-ssd-cache"))!;
        _ = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        var data = repo.Files[HubTestRepos.CpuFolder + "/model.onnx.data"];
        string partial = Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), "blobs", data.Sha256 + ".incomplete");
        await hub.Held.Task.WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < 2000 && (!File.Exists(partial) || new FileInfo(partial).Length < Held); i++) await Task.Delay(10);

        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.That(clock.Elapsed).IsLessThan(TimeSpan.FromSeconds(10));
        await Assert.That(process.ExitCode).IsEqualTo(0);
        await Assert.That(await error).Contains("stopped before serving");
        // Nothing half-fetched became a snapshot; the partial blob stays for the next pull to resume.
        await Assert.That(new FileInfo(partial).Length).IsEqualTo(Held);
        await Assert.That(Directory.Exists(Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), "snapshots"))
            && Directory.EnumerateFileSystemEntries(Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"), "snapshots")).Any()).IsFalse();
        var run = await PullTests.Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(0).Because(run.Error);
        var gets = hub.Requests.Where(r => r.Server == "cdn" && r.Method == "GET" && r.Path.EndsWith(data.Sha256, StringComparison.Ordinal)).ToList();
        await Assert.That(gets[^1].Range).IsEqualTo($"bytes={Held}-");
    }
}
