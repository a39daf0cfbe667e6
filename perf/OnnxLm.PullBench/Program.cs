using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxLm.Builder;
using OnnxLm.Tests.Hub;

// onnxlm-pullbench: `onnxlm pull` against the fake hub on 127.0.0.1 (the tests' FakeHub), compared with curl fetching the
// same bytes from the same CDN listener. Measures: throughput for a large weights file, peak RSS of the pull process for
// two file sizes (flat = independent of size), and the time from a server-side connection cut to the resumed request.
// Every round runs curl, curl + fsync and the pull back to back (the machine is shared: interleaving spreads its load).
// Usage: onnxlm-pullbench --onnxlm PATH [--size-mb 1024] [--repeats 3] [--out FILE.json] [--serve-only]
string onnxlm = "";
long sizeMb = 1024;
int repeats = 3;
string? outFile = null;
bool serveOnly = false; // keep the fake hub up for manual runs of `onnxlm pull` (prints HF_ENDPOINT, stops on Enter)
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--onnxlm": onnxlm = Path.GetFullPath(args[++i]); break;
        case "--size-mb": sizeMb = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--out": outFile = args[++i]; break;
        case "--serve-only": serveOnly = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
if (!File.Exists(onnxlm)) { Console.Error.WriteLine("--onnxlm PATH to the onnxlm executable is required"); return 2; }

string work = Path.Combine(Path.GetTempPath(), "onnxlm-pullbench");
Directory.CreateDirectory(work);
string small = Path.Combine(work, "model");
if (!File.Exists(Path.Combine(small, "genai_config.json"))) ModelBuilder.Build(small, ModelBuilderOptions.Tiny with { ExternalDataThreshold = 0 });
string big = Weights(sizeMb);
string quarter = Weights(sizeMb / 4);

await using var hub = await FakeHub.StartAsync();
FakeRepo Repo(string id, string weights)
{
    var repo = new FakeRepo(id);
    foreach (string f in Directory.EnumerateFiles(small).Where(f => !f.EndsWith(".data", StringComparison.Ordinal)))
        repo.AddFile("cpu/" + Path.GetFileName(f), f, lfs: f.EndsWith(".onnx", StringComparison.Ordinal));
    repo.AddFile("cpu/model.onnx.data", weights, lfs: true);
    return hub.Add(repo);
}
var bigRepo = Repo("bench/big", big);
var quarterRepo = Repo("bench/quarter", quarter);
string bigSha = bigRepo.Files["cpu/model.onnx.data"].Sha256;
if (serveOnly)
{
    Console.WriteLine($"HF_ENDPOINT={hub.Endpoint} repositories: {bigRepo.Id}, {quarterRepo.Id}");
    Console.ReadLine();
    return 0;
}
long bytes = new FileInfo(big).Length;

var curlS = new List<double>();
var curlSyncS = new List<double>();
var pullS = new List<double>();
var pullRss = new List<long>();
for (int r = 0; r < repeats; r++)
{
    string dest = Path.Combine(work, "curl.out");
    var sw = Stopwatch.StartNew();
    Run("curl", ["-sS", "-o", dest, $"{hub.CdnEndpoint}lfs/{bigSha}"]);
    curlS.Add(sw.Elapsed.TotalSeconds);
    File.Delete(dest);
    // curl with the durability pull gives (its bytes on disk before it reports done).
    sw.Restart();
    Run("curl", ["-sS", "-o", dest, $"{hub.CdnEndpoint}lfs/{bigSha}"]);
    Run("sync", [dest]);
    curlSyncS.Add(sw.Elapsed.TotalSeconds);
    File.Delete(dest);

    var (seconds, rss) = Pull(bigRepo.Id);
    pullS.Add(seconds);
    pullRss.Add(rss);
}
var (_, quarterRss) = Pull(quarterRepo.Id);

// Recovery: the CDN cuts the connection halfway; time from the cut to the resumed (Range) request.
hub.CutAfterBytes = bytes / 2;
var (cutSeconds, _) = Pull(bigRepo.Id);
var resumed = hub.Requests.Last(q => q.Server == "cdn" && q.Range is not null && q.Path.EndsWith(bigSha, StringComparison.Ordinal));
double recoveryMs = (resumed.At - hub.CutAt).TotalMilliseconds;

double curlBest = curlS.Min(), pullBest = pullS.Min();
var result = new Dictionary<string, object>
{
    ["file_bytes"] = bytes,
    ["repeats"] = repeats,
    ["curl_seconds"] = curlS,
    ["pull_seconds"] = pullS,
    ["curl_mb_per_s_best"] = Math.Round(bytes / 1e6 / curlBest, 1),
    ["curl_then_sync_seconds"] = curlSyncS,
    ["curl_then_sync_mb_per_s_best"] = Math.Round(bytes / 1e6 / curlSyncS.Min(), 1),
    ["pull_vs_curl_then_sync_best"] = Math.Round(curlSyncS.Min() / pullBest, 3),
    ["pull_mb_per_s_best"] = Math.Round(bytes / 1e6 / pullBest, 1),
    ["pull_vs_curl_best"] = Math.Round(curlBest / pullBest, 3),
    ["pull_peak_rss_bytes"] = pullRss,
    ["pull_peak_rss_bytes_quarter_file"] = quarterRss,
    ["cut_recovery_ms"] = Math.Round(recoveryMs, 1),
    ["pull_with_cut_seconds"] = Math.Round(cutSeconds, 2),
    ["onnxlm"] = onnxlm,
    ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
    ["load_average_at_end"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "",
    ["command"] = "perf/pull.sh",
};
string json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
if (outFile is not null) File.WriteAllText(outFile, json);
return 0;

(double Seconds, long PeakRss) Pull(string repo)
{
    string cache = Path.Combine(work, "cache-" + Guid.NewGuid().ToString("N"));
    var info = new ProcessStartInfo(onnxlm, ["pull", repo]) { RedirectStandardOutput = true, RedirectStandardError = true };
    info.Environment["HF_ENDPOINT"] = hub.Endpoint.ToString();
    info.Environment["HF_HUB_CACHE"] = cache;
    info.Environment.Remove("HF_TOKEN");
    var sw = Stopwatch.StartNew();
    using var p = Process.Start(info)!;
    var stdout = p.StandardOutput.ReadToEndAsync();
    var stderr = p.StandardError.ReadToEndAsync();
    long peak = 0;
    while (!p.WaitForExit(20))
        peak = Math.Max(peak, Rss(p.Id));
    double seconds = sw.Elapsed.TotalSeconds;
    if (p.ExitCode != 0) throw new InvalidOperationException($"pull failed: {stderr.Result}");
    Directory.Delete(cache, recursive: true);
    return (seconds, peak);
}

static long Rss(int pid)
{
    try
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
    catch (IOException) { }
    return 0;
}

static void Run(string file, string[] arguments)
{
    using var p = Process.Start(new ProcessStartInfo(file, arguments))!;
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"{file} exited {p.ExitCode}");
}

string Weights(long mb)
{
    string path = Path.Combine(work, $"weights-{mb}mb.bin");
    if (File.Exists(path) && new FileInfo(path).Length == mb << 20) return path;
    var rng = new Random(42);
    byte[] chunk = new byte[4 << 20];
    using (var f = File.Create(path + ".tmp"))
        for (long left = mb << 20; left > 0; left -= chunk.Length)
        {
            rng.NextBytes(chunk);
            f.Write(chunk, 0, (int)Math.Min(chunk.Length, left));
        }
    File.Move(path + ".tmp", path, overwrite: true);
    return path;
}
