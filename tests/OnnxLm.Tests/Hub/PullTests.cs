using System.Security.Cryptography;
using OnnxLm.Cli;
using OnnxLm.Hub;

namespace OnnxLm.Tests.Hub;

/// <summary>
/// <c>onnxlm pull</c> against the fake hub (Kestrel on 127.0.0.1, a CDN listener that must never see the token): files on
/// disk in the Hugging Face layout with their real hashes, and every fault switch of issue 13 firing once and healing.
/// </summary>
public class PullTests
{
    internal sealed record PullRun(int Code, string Out, string Error)
    {
        public string LastLine => Out.TrimEnd().Split('\n')[^1];
    }

    internal static async Task<PullRun> Pull(FakeHub hub, string cache, string[] args, bool token = true, HubTransferOptions? transfer = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code;
        try
        {
            code = await PullCommand.RunPullAsync(["pull", .. args], stdout, stderr, HubTestRepos.Settings(hub, cache, token), transfer ?? HubTestRepos.Fast);
        }
        catch (HubException e)
        {
            stderr.WriteLine(e.Message);
            code = e.ExitCode;
        }
        catch (UsageException e)
        {
            stderr.WriteLine(e.Message);
            code = 2;
        }
        return new PullRun(code, stdout.ToString(), stderr.ToString());
    }

    static string RepoDir(string cache, FakeRepo repo) => Path.Combine(cache, "models--" + repo.Id.Replace("/", "--"));

    static async Task AssertPulledIntact(string cache, FakeRepo repo, string folder, PullRun run)
    {
        await Assert.That(run.Code).IsEqualTo(0).Because(run.Error);
        string snapshot = Path.Combine(RepoDir(cache, repo), "snapshots", repo.Commit);
        await Assert.That(run.LastLine).IsEqualTo(Path.Combine(snapshot, folder));
        foreach (var f in repo.Files.Values.Where(f => f.Path.StartsWith(folder + "/", StringComparison.Ordinal)))
        {
            string entry = Path.Combine(snapshot, f.Path);
            var info = new FileInfo(entry);
            string etag = f.Lfs ? f.Sha256 : f.GitOid;
            // A relative symlink into blobs/, named by ETag, with the source's exact bytes.
            await Assert.That(info.LinkTarget).IsEqualTo(Path.GetRelativePath(Path.GetDirectoryName(entry)!, Path.Combine(RepoDir(cache, repo), "blobs", etag)));
            await Assert.That(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(entry)))).IsEqualTo(f.Sha256);
        }
        await Assert.That(Directory.EnumerateFiles(Path.Combine(RepoDir(cache, repo), "blobs"), "*.incomplete")).IsEmpty();
        await Assert.That((await File.ReadAllTextAsync(Path.Combine(RepoDir(cache, repo), "refs", "main")))).IsEqualTo(repo.Commit);
    }

    static FakeFile DataFile(FakeRepo repo) => repo.Files[HubTestRepos.CpuFolder + "/model.onnx.data"];

    [Test]
    public async Task Pull_stores_the_cpu_folder_verified_in_the_hf_layout_and_the_token_never_reaches_the_cdn()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        await Assert.That(run.Error).Contains(HubTestRepos.GpuFolder); // the other folder is named
        await Assert.That(run.Error).Contains("progress: 100% "); // plain progress lines off a terminal
        await Assert.That(run.Error).DoesNotContain(FakeHub.Token);
        await Assert.That(hub.CdnSawToken).IsFalse();
        await Assert.That(hub.Requests.Where(r => r.Server == "cdn")).IsNotEmpty();
        // The token went to the Hub; nothing of the GPU folder was downloaded.
        await Assert.That(hub.Requests.Where(r => r.Server == "hub").All(r => r.Authorization == "Bearer " + FakeHub.Token)).IsTrue();
        await Assert.That(hub.Requests.Any(r => r.Path.Contains("/gpu/", StringComparison.Ordinal))).IsFalse();
        // Locks where huggingface_hub keeps them.
        await Assert.That(File.Exists(Path.Combine(cache, ".locks", "models--test-org--tiny-onnx", DataFile(repo).Sha256 + ".lock"))).IsTrue();
    }

    [Test]
    public async Task A_connection_cut_mid_file_is_resumed_with_range()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.CutAfterBytes = 100_000;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        // The resume starts where the client's bytes ended: at most the 100000 sent before the cut (an abort may
        // discard what was still in flight), never at 0.
        var resumed = hub.Requests.Where(r => r.Server == "cdn" && r.Method == "GET" && r.Path.EndsWith(DataFile(repo).Sha256, StringComparison.Ordinal)).ToList();
        await Assert.That(resumed.Count).IsEqualTo(2);
        await Assert.That(resumed[0].Range).IsNull();
        long from = long.Parse(resumed[1].Range!["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
        await Assert.That(from).IsGreaterThan(0).And.IsLessThanOrEqualTo(100_000);
    }

    [Test]
    public async Task A_stalled_transfer_is_dropped_and_resumed()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.StallAfterBytes = 65_536;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        await Assert.That(run.Error).Contains("stalled");
        // A stalled connection is not reset by the server: every byte sent before the stall arrived.
        await Assert.That(hub.Requests.Any(r => r.Server == "cdn" && r.Range == "bytes=65536-")).IsTrue();
    }

    [Test]
    public async Task A_server_ignoring_range_restarts_the_file_without_corruption()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.CutAfterBytes = 100_000;
        hub.IgnoreRangeOnce = 1;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        await Assert.That(run.Error).Contains("did not resume");
    }

    [Test]
    public async Task A_flipped_byte_deletes_the_file_names_both_hashes_and_exits_non_zero()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.FlipByteOnce = 1;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(1);
        string blobs = Path.Combine(RepoDir(cache, repo), "blobs");
        // Which LFS file got the flip depends on the order of parallel transfers; its sha256 is named either way.
        var flipped = repo.Files.Values.Single(f => f.Lfs && run.Error.Contains(f.Sha256, StringComparison.Ordinal) && f.Path.StartsWith(HubTestRepos.CpuFolder, StringComparison.Ordinal));
        await Assert.That(run.Error).Contains("sha256 mismatch");
        await Assert.That(run.Error).Contains("got ");
        await Assert.That(File.Exists(Path.Combine(blobs, flipped.Sha256))).IsFalse();
        await Assert.That(File.Exists(Path.Combine(blobs, flipped.Sha256 + ".incomplete"))).IsFalse();
        // Nothing unverified appears as a model folder.
        await Assert.That(File.Exists(Path.Combine(RepoDir(cache, repo), "snapshots", repo.Commit, HubTestRepos.CpuFolder, "genai_config.json"))).IsFalse();
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, await Pull(hub, cache, [repo.Id]));
    }

    [Test]
    public async Task Too_many_requests_waits_for_retry_after_then_succeeds()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.TooManyRequestsOnce = 1;
        hub.ServerErrorOnce = 1;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        await Assert.That(run.Error).Contains("HTTP 429; retrying in 1 s");
        await Assert.That(run.Error).Contains("HTTP 503");
    }

    [Test]
    public async Task A_gated_repository_says_where_to_accept_the_licence_and_the_token_unlocks_it()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub, "test-org/gated");
        repo.Gated = true;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id], token: false);
        await Assert.That(run.Code).IsEqualTo(2);
        await Assert.That(run.Error).Contains($"accept the licence at {hub.Endpoint}test-org/gated, then set HF_TOKEN");
        await Assert.That(hub.Requests.Any(r => r.Server == "cdn")).IsFalse();
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, await Pull(hub, cache, [repo.Id]));
    }

    [Test]
    public async Task Missing_repository_revision_and_file_have_distinct_messages()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var noRepo = await Pull(hub, cache, ["test-org/absent"]);
        var noRepoAnonymous = await Pull(hub, cache, ["test-org/absent"], token: false);
        var noRevision = await Pull(hub, cache, [repo.Id + "@no-such-branch"]);
        var noFolder = await Pull(hub, cache, [repo.Id + ":no/such/folder"]);
        foreach (var r in new[] { noRepo, noRepoAnonymous, noRevision, noFolder }) await Assert.That(r.Code).IsEqualTo(2);
        await Assert.That(noRepo.Error).Contains("repository test-org/absent not found");
        await Assert.That(noRepoAnonymous.Error).Contains("repository test-org/absent not found").And.Contains("if it is private, set HF_TOKEN");
        await Assert.That(noRevision.Error).Contains("revision 'no-such-branch' not found in test-org/tiny-onnx");
        await Assert.That(noFolder.Error).Contains("'no/such/folder' not found in test-org/tiny-onnx");
    }

    [Test]
    public async Task A_bad_token_is_reported_without_printing_it()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var settings = HubTestRepos.Settings(hub, cache) with { Token = "hf_wrong_token_456" };
        var e = await Assert.ThrowsAsync<HubException>(() => PullCommand.RunPullAsync(["pull", repo.Id], stdout, stderr, settings, HubTestRepos.Fast));
        await Assert.That(e!.Message).Contains("refused the token");
        await Assert.That(e.Message + stderr + stdout).DoesNotContain("hf_wrong_token_456");
    }

    [Test]
    public async Task A_renamed_repository_is_followed_on_the_hub_keeping_the_token_off_the_cdn()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.Renamed["old-org/old-name"] = repo.Id;
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, ["old-org/old-name"]);
        await Assert.That(run.Code).IsEqualTo(0).Because(run.Error);
        await Assert.That(File.Exists(Path.Combine(run.LastLine, "model.onnx.data"))).IsTrue();
        await Assert.That(hub.Requests.Count(r => r.Path.StartsWith("/old-org/old-name/resolve/", StringComparison.Ordinal))).IsGreaterThan(0);
        await Assert.That(hub.CdnSawToken).IsFalse();
    }

    [Test]
    public async Task A_tree_path_that_would_leave_the_snapshot_is_refused()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub, "test-org/evil");
        repo.AddFile("../../../escaped.json", Path.Combine(HubTestRepos.TinyFolder, "genai_config.json"), lfs: false);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(2);
        await Assert.That(run.Error).Contains("unsafe file path '../../../escaped.json'");
        await Assert.That(hub.Downloads).IsEmpty();
    }

    [Test]
    public async Task A_paginated_tree_is_followed_to_its_last_page()
    {
        await using var hub = await FakeHub.StartAsync();
        hub.PageSize = 2;
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        int pages = hub.Requests.Count(r => r.Path.Contains("/tree/", StringComparison.Ordinal));
        await Assert.That(pages).IsEqualTo((repo.Files.Count + 1) / 2);
    }

    [Test]
    public async Task Gpu_folders_are_listed_and_refused_and_a_gpu_only_repository_has_no_supported_folder()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        var gpuOnly = HubTestRepos.GpuOnly(hub);
        string cache = HubTestRepos.NewCache();
        var list = await Pull(hub, cache, [repo.Id, "--list"]);
        await Assert.That(list.Code).IsEqualTo(0);
        await Assert.That(list.Out).Contains(HubTestRepos.CpuFolder).And.Contains("(default)").And.Contains(HubTestRepos.GpuFolder).And.Contains("(GPU/NPU)");
        await Assert.That(hub.Downloads).IsEmpty();
        var explicitGpu = await Pull(hub, cache, [repo.Id + ":" + HubTestRepos.GpuFolder]);
        await Assert.That(explicitGpu.Code).IsEqualTo(2);
        await Assert.That(explicitGpu.Error).Contains("provider cuda");
        var none = await Pull(hub, cache, [gpuOnly.Id]);
        await Assert.That(none.Code).IsEqualTo(2);
        await Assert.That(none.Error).Contains("no supported folder");
        await Assert.That(hub.Requests.Any(r => r.Server == "cdn")).IsFalse(); // refused on the config, before any weight
    }

    [Test]
    public async Task A_repository_without_genai_config_is_refused_before_any_download()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.NoGenAiConfig(hub);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(2);
        await Assert.That(run.Error).Contains("no genai_config.json").And.Contains("onnx/model.onnx");
        await Assert.That(hub.Downloads).IsEmpty();
    }

    [Test]
    public async Task A_model_outside_the_contract_is_refused_after_the_config_before_the_weights()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.Unsupported(hub);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id]);
        await Assert.That(run.Code).IsEqualTo(2);
        await Assert.That(run.Error).Contains("past_present_share_buffer");
        await Assert.That(hub.Requests.Any(r => r.Server == "cdn")).IsFalse();
    }

    [Test]
    public async Task A_full_disk_is_refused_with_the_numbers_before_the_first_large_byte()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var run = await Pull(hub, cache, [repo.Id], transfer: HubTestRepos.Fast with { FreeSpace = _ => 10_000 });
        await Assert.That(run.Code).IsEqualTo(2);
        await Assert.That(run.Error).Contains("not enough disk space").And.Contains("9.8 KiB free");
        await Assert.That(hub.Requests.Any(r => r.Server == "cdn")).IsFalse();
    }

    /// <summary>The disk filling up during the transfer (a real ENOSPC from a 400 KiB tmpfs; the free-space check is told
    /// there is room): one clear message, exit 2, no retry loop, and the partial file kept for a resume. Needs root to
    /// mount the tmpfs; skipped otherwise.</summary>
    [Test]
    public async Task A_disk_filling_up_mid_file_stops_with_a_disk_full_message()
    {
        string mount = Path.Combine(Path.GetTempPath(), "onnxlm-tmpfs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(mount);
        using (var m = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=400k", "tmpfs", mount]) { RedirectStandardError = true })!)
        {
            await m.WaitForExitAsync();
            if (m.ExitCode != 0)
            {
                Directory.Delete(mount);
                Skip.Test("mounting a tmpfs needs root");
            }
        }
        try
        {
            await using var hub = await FakeHub.StartAsync();
            var repo = HubTestRepos.CpuAndGpu(hub);
            var run = await Pull(hub, mount, [repo.Id], transfer: HubTestRepos.Fast with { FreeSpace = _ => long.MaxValue });
            await Assert.That(run.Code).IsEqualTo(2);
            await Assert.That(run.Error).Contains("disk full while writing " + HubTestRepos.CpuFolder + "/model.onnx.data");
            await Assert.That(run.Error).DoesNotContain("retrying");
            await Assert.That(hub.Requests.Count(r => r.Server == "cdn" && r.Path.EndsWith(DataFile(repo).Sha256, StringComparison.Ordinal))).IsEqualTo(1);
        }
        finally
        {
            using var u = System.Diagnostics.Process.Start("umount", [mount]);
            await u.WaitForExitAsync();
            Directory.Delete(mount);
        }
    }

    [Test]
    public async Task Two_concurrent_pulls_of_one_repository_download_once_and_both_succeed()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        hub.ThrottleBytesPerSecond = 2_000_000; // long enough for both pulls to want the same blobs at once
        string cache = HubTestRepos.NewCache();
        var runs = await Task.WhenAll(Pull(hub, cache, [repo.Id]), Pull(hub, cache, [repo.Id]));
        foreach (var run in runs) await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        foreach (var f in repo.Files.Values.Where(f => f.Lfs && f.Path.StartsWith(HubTestRepos.CpuFolder, StringComparison.Ordinal)))
            await Assert.That(hub.Requests.Count(r => r.Server == "cdn" && r.Method == "GET" && r.Path.EndsWith(f.Sha256, StringComparison.Ordinal))).IsEqualTo(1);
    }

    [Test]
    public async Task A_cache_written_by_the_python_tool_is_used_without_a_new_download()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        // huggingface_hub's layout, written by hand: blobs by ETag, relative symlinks, refs/main.
        string repoDir = RepoDir(cache, repo);
        Directory.CreateDirectory(Path.Combine(repoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        await File.WriteAllTextAsync(Path.Combine(repoDir, "refs", "main"), repo.Commit);
        foreach (var f in repo.Files.Values.Where(f => f.Path.StartsWith(HubTestRepos.CpuFolder, StringComparison.Ordinal)))
        {
            string etag = f.Lfs ? f.Sha256 : f.GitOid;
            File.Copy(f.Source, Path.Combine(repoDir, "blobs", etag));
            string link = Path.Combine(repoDir, "snapshots", repo.Commit, f.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, "../../../../blobs/" + etag);
        }
        // A check folder left by a killed pull (no such process) and one of a live pull (this one).
        string stale = Path.Combine(repoDir, ".onnxlm-check-2147483646-0123abcd");
        string live = Path.Combine(repoDir, $".onnxlm-check-{Environment.ProcessId}-4567cdef");
        Directory.CreateDirectory(stale);
        Directory.CreateDirectory(live);
        var run = await Pull(hub, cache, [repo.Id]);
        await AssertPulledIntact(cache, repo, HubTestRepos.CpuFolder, run);
        await Assert.That(hub.Downloads).IsEmpty();
        await Assert.That(Directory.Exists(stale)).IsFalse();
        await Assert.That(Directory.Exists(live)).IsTrue();
        await Assert.That(run.Error).Contains("0 B downloaded now").And.DoesNotContain("progress:");
        // And serving it offline needs no network at all.
        int before = hub.Requests.Count;
        string folder = await ModelSource.ResolveAsync(repo.Id, offline: true, HubTestRepos.Settings(hub, cache), null, _ => { }, default);
        await Assert.That(File.Exists(Path.Combine(folder, "model.onnx.data"))).IsTrue();
        await Assert.That(hub.Requests.Count).IsEqualTo(before);
    }

    [Test]
    public async Task Serving_a_repository_missing_from_the_cache_pulls_it_first_and_reuses_it_after()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var notes = new List<string>();
        using var progress = new PullProgress(new StringWriter(), terminal: false);
        string folder = await ModelSource.ResolveAsync(repo.Id, offline: false, HubTestRepos.Settings(hub, cache), progress, notes.Add, default);
        // The engine gets the hard-link view of the pulled snapshot folder.
        await Assert.That(folder).IsEqualTo(Path.Combine(RepoDir(cache, repo), ServableFolder.ViewFolderName, repo.Commit, HubTestRepos.CpuFolder));
        await Assert.That(File.Exists(Path.Combine(RepoDir(cache, repo), "snapshots", repo.Commit, HubTestRepos.CpuFolder, "genai_config.json"))).IsTrue();
        await Assert.That(notes.Any(n => n.Contains("pulling it from", StringComparison.Ordinal))).IsTrue();
        int requests = hub.Requests.Count;
        string again = await ModelSource.ResolveAsync(repo.Id, offline: false, HubTestRepos.Settings(hub, cache), progress, notes.Add, default);
        await Assert.That(again).IsEqualTo(folder);
        await Assert.That(hub.Requests.Count).IsEqualTo(requests); // in the cache: no network
    }

    [Test]
    public async Task Offline_and_missing_says_what_is_missing_without_touching_the_network()
    {
        await using var hub = await FakeHub.StartAsync();
        var repo = HubTestRepos.CpuAndGpu(hub);
        string cache = HubTestRepos.NewCache();
        var e = await Assert.ThrowsAsync<HubException>(() =>
            ModelSource.ResolveAsync(repo.Id, offline: true, HubTestRepos.Settings(hub, cache), null, _ => { }, default));
        await Assert.That(e!.Message).Contains("offline").And.Contains("test-org/tiny-onnx is not in the cache").And.Contains("onnxlm pull test-org/tiny-onnx");
        await Assert.That(hub.Requests).IsEmpty();
        var settingsOffline = HubTestRepos.Settings(hub, cache) with { Offline = true };
        await Assert.ThrowsAsync<HubException>(() => PullCommand.RunPullAsync(["pull", repo.Id], new StringWriter(), new StringWriter(), settingsOffline, HubTestRepos.Fast));
        await Assert.That(hub.Requests).IsEmpty();
    }
}
