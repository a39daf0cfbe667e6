using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>
/// The SSD tier end to end: KV survives a restart and comes back bit-identical (the greedy answer equals the cold
/// oracle's), evicted blocks return from disk, and a server killed with SIGKILL in the middle of writing never serves
/// anything wrong after it restarts.
/// </summary>
public partial class SsdRestartTests
{
    static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "onnxlm-ssd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static async Task<RunResult> RunChecked(InferenceEngine engine, int[] prompt, int maxTokens)
    {
        var r = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, maxTokens));
        await Assert.That(r.Error).IsNull();
        var expected = Oracle.GreedyTokens(TestModels.TinyFp32, prompt, maxTokens);
        await Assert.That(string.Join(",", r.TokensWithoutEos(engine.Contract.Config.EosTokenIds))).IsEqualTo(string.Join(",", expected));
        return r;
    }

    [Test]
    public async Task Restart_restores_a_long_prompt_from_disk_with_identical_output()
    {
        string dir = TempDir();
        var prompt = EngineDriver.RandomPrompt(900, 300);
        using (var first = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2, ssdDir: dir))
        {
            var cold = await RunChecked(first, prompt, 12);
            await Assert.That(cold.CachedTokens).IsEqualTo(0);
        }   // shutdown writes the RAM blocks to disk
        using var second = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2, ssdDir: dir);
        await Assert.That(second.Ssd).IsNotNull();
        await Assert.That(second.Ssd!.BlockCount).IsGreaterThanOrEqualTo(18);
        var warm = await RunChecked(second, prompt, 12);
        await Assert.That(warm.CachedTokens).IsEqualTo(288);   // (300 - 1) / 16 whole blocks
        await Assert.That(second.Ssd.BlocksRead).IsGreaterThanOrEqualTo(18);
        // Counted by the tier they came from (/metrics: onnxlm:cached_prompt_tokens_by_tier_total).
        var stats = second.Statistics;
        await Assert.That(stats.CachedSsdTokensTotal).IsEqualTo(288);
        await Assert.That(stats.CachedPoolTokensTotal).IsEqualTo(0);
        await Assert.That(stats.CachedRemoteTokensTotal).IsEqualTo(0);
        var again = await RunChecked(second, prompt, 12);
        await Assert.That(again.CachedTokens).IsGreaterThanOrEqualTo(288);
        await Assert.That(second.Statistics.CachedPoolTokensTotal).IsEqualTo(again.CachedTokens);
    }

    [Test]
    public async Task Blocks_evicted_from_ram_come_back_from_disk()
    {
        string dir = TempDir();
        using var probe = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1);
        long blockBytes = probe.Cache!.Layout.BlockBytes;
        probe.Dispose();
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1, kvCacheMemory: blockBytes * 8, ssdDir: dir);
        var prompts = Enumerable.Range(0, 4).Select(i => EngineDriver.RandomPrompt(910 + i, 100)).ToArray();
        foreach (var p in prompts) await RunChecked(engine, p, 4);   // each evicts the previous prompt's blocks
        await Assert.That(engine.Cache!.Evictions).IsGreaterThan(0);
        // Wait until the writer has put the spilled blocks on disk.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (engine.Ssd!.BlocksWritten < 6 && DateTime.UtcNow < deadline) await Task.Delay(20);
        var again = await RunChecked(engine, prompts[0], 4);
        await Assert.That(again.CachedTokens).IsGreaterThan(0);
        await Assert.That(engine.Ssd.BlocksRead).IsGreaterThan(0);
        await Assert.That(engine.Cache.CheckInvariants()).IsNull();
    }

    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex ListeningLine();

    sealed class ServerProcess : IDisposable
    {
        public required Process Process { get; init; }
        public required HttpClient Client { get; init; }
        public void Dispose()
        {
            Client.Dispose();
            if (!Process.HasExited) Process.Kill();
            Process.Dispose();
        }
    }

    static async Task<ServerProcess> StartServer(string kvDir)
    {
        var info = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "onnxlm"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "serve", "--model", TestModels.TinyFp32, "--port", "0", "--threads", "1", "--max-batch-size", "2",
                                  "--kv-cache-dir", kvDir, "--ssd-write-through" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && ListeningLine().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var client = new HttpClient { BaseAddress = new Uri(await address.Task.WaitAsync(TimeSpan.FromSeconds(60))), Timeout = TimeSpan.FromSeconds(60) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var ready = await client.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("server never became ready");
            await Task.Delay(20);
        }
        return new ServerProcess { Process = process, Client = client };
    }

    static async Task<(string Text, int Cached)> Complete(HttpClient client, int[] prompt, int maxTokens, CancellationToken ct = default)
    {
        string body = $"{{\"prompt\":[{string.Join(",", prompt)}],\"max_tokens\":{maxTokens},\"temperature\":0}}";
        using var response = await client.PostAsync("/v1/completions", new StringContent(body, Encoding.UTF8, "application/json"), ct);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct)).RootElement;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {json}");
        return (json.GetProperty("choices")[0].GetProperty("text").GetString()!,
                json.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    static async Task<long> BlocksWritten(HttpClient client)
    {
        string metrics = await client.GetStringAsync("/metrics");
        foreach (var line in metrics.Split('\n'))
            if (line.StartsWith("onnxlm:ssd_blocks_written_total", StringComparison.Ordinal))
                return (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return 0;
    }

    static string Decode(IEnumerable<int> tokens)
    {
        var d = new IncrementalDetokenizer(TokenVocabulary.Load(Path.Combine(TestModels.TinyFp32, "tokenizer.json")));
        foreach (int t in tokens) d.Append(t, skipSpecial: true);
        return Encoding.UTF8.GetString(d.Flush());
    }

    [Test]
    public async Task Sigkill_while_writing_never_leads_to_wrong_output_after_restart()
    {
        if (OperatingSystem.IsWindows()) return;   // SIGKILL is POSIX
        string dir = TempDir();
        var prompts = Enumerable.Range(0, 4).Select(i => EngineDriver.RandomPrompt(950 + i, 160 + 40 * i)).ToArray();
        var expected = prompts.Select(p => Decode(Oracle.GreedyTokens(TestModels.TinyFp32, p, 8))).ToArray();
        var rng = new Random(77);
        for (int round = 0; round < 20; round++)
        {
            using var server = await StartServer(dir);   // every restart must succeed, whatever the last kill left
            var p = rng.Next(prompts.Length);
            using var cts = new CancellationTokenSource();
            var pending = Complete(server.Client, prompts[p], 8, cts.Token);
            if (round % 4 == 0)
            {
                // Every fourth run gets as far as having written blocks (seen in /metrics), then dies mid-way through more.
                await pending;
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (await BlocksWritten(server.Client) == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
                pending = Complete(server.Client, prompts[(p + 1) % prompts.Length], 8, cts.Token);
            }
            await Task.Delay(rng.Next(0, 60));
            server.Process.Kill();   // SIGKILL, at a random moment of prefill, commit or write
            await server.Process.WaitForExitAsync();
            try { await pending; } catch (Exception) { /* the connection died with the server */ }
        }
        using var last = await StartServer(dir);
        int cached = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            var (text, c) = await Complete(last.Client, prompts[i], 8);
            await Assert.That(text).IsEqualTo(expected[i]);
            cached += c;
        }
        // Some of the 20 runs got far enough to persist blocks, and they were served.
        await Assert.That(cached).IsGreaterThan(0);
        // A clean stop leaves no temporary file behind (those of the killed runs were removed at the next start).
        using (var term = Process.Start("kill", ["-TERM", last.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await term.WaitForExitAsync();
        await last.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.That(last.Process.ExitCode).IsEqualTo(0);
        var leftovers = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => f.Contains(".tmp", StringComparison.Ordinal)).ToList();
        await Assert.That(leftovers).IsEmpty();
    }
}
