using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using OnnxLm.Benchmarks.Machine;
using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// <c>streamed</c>: one streamed request as a user sees it — <c>onnxlm serve</c> (the binary users run) decoding the
/// int4 benchmark model (MatMulNBits, block 32, accuracy_level 4, as CPU folders are built), the client reading the SSE
/// stream on the same machine — against GenAI's <c>Generator</c> in-process on the same model. Each runtime runs alone
/// in a fresh process per repeat, alternating which goes first (<see cref="IsolatedRun"/> says why). Same prompt (32
/// token ids) and length (128 tokens, <c>ignore_eos</c>, greedy) as the engine comparison's single stream; decode rate =
/// (tokens − 1) ÷ (last token's arrival − first token's arrival), stamped where the client reads the stream.
/// </summary>
public static class StreamedServing
{
    const string Usage = "usage: streamed [--onnxlm PATH] [--model-cache DIR] [--weights int4|fp32] [--repeats N] [--runs N] [--threads N] [--out FILE.md]";

    public static int Run(string[] args)
    {
        string onnxlm = DefaultBinary(), cache = BenchmarkModel.DefaultCache, outFile = "artifacts/perf/streamed.md";
        var weights = WeightFormat.Int4;
        int repeats = 6, runs = 3, threads = 2;
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            bool ok = true;
            switch (args[i])
            {
                case "--onnxlm" when Next() is { } v: onnxlm = v; break;
                case "--model-cache" when Next() is { } v: cache = v; break;
                case "--out" when Next() is { } v: outFile = v; break;
                case "--weights" when Next() is "int4": weights = WeightFormat.Int4; break;
                case "--weights": weights = WeightFormat.Fp32; ok = args[i] == "fp32"; break;
                case "--repeats": ok = int.TryParse(Next(), out repeats) && repeats > 0; break;
                case "--runs": ok = int.TryParse(Next(), out runs) && runs > 0; break;
                case "--threads": ok = int.TryParse(Next(), out threads) && threads > 0; break;
                default: ok = false; break;
            }
            if (!ok)
            {
                Console.Error.WriteLine($"bad argument '{args[i]}'\n{Usage}");
                return 2;
            }
        }
        if (!File.Exists(onnxlm))
        {
            Console.Error.WriteLine($"no onnxlm binary at {onnxlm}: run ./publish.sh (or pass --onnxlm PATH)");
            return 2;
        }
        var (dir, _, _) = BenchmarkModel.Ensure(cache, weights, Console.Error.WriteLine);
        var served = new List<double>();
        var genai = new List<double>();
        var ratios = new List<double>();
        string load = MachineInfo.LoadAverage();
        var clock = Stopwatch.StartNew();
        for (int r = 0; r < repeats; r++)
        {
            // Alternate which runtime goes first, so drift in machine load falls on both alike.
            List<double> s, g;
            if (r % 2 == 0)
            {
                s = ServedRates(onnxlm, dir, threads, runs);
                g = IsolatedRun.Spawn("genai", "single", dir, threads, runs).Single;
            }
            else
            {
                g = IsolatedRun.Spawn("genai", "single", dir, threads, runs).Single;
                s = ServedRates(onnxlm, dir, threads, runs);
            }
            served.AddRange(s);
            genai.AddRange(g);
            ratios.Add(Samples.MedianOf([.. s]) / Samples.MedianOf([.. g]));
            Console.Error.WriteLine($"repeat {r + 1}/{repeats}: served {Samples.MedianOf([.. s]):F1} tok/s, genai in-process {Samples.MedianOf([.. g]):F1} tok/s, ratio {ratios[^1]:F3}");
        }
        string w = weights == WeightFormat.Int4 ? "int4 (MatMulNBits block 32, accuracy_level 4)" : "fp32";
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Commit `{MachineInfo.Commit()[..Math.Min(12, MachineInfo.Commit().Length)]}`, {Environment.ProcessorCount} cores, ORT threads {threads}, benchmark model {w}; {repeats} repeats × {runs} runs, each runtime alone in a fresh process per repeat, order alternating; load average {load} before, {MachineInfo.LoadAverage()} after; {clock.Elapsed.TotalSeconds:F0} s.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Command: `dotnet run -c Release --project perf/OnnxLm.Benchmarks -- streamed {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine("| What | onnxlm serve, streamed over HTTP | GenAI 0.18 `Generator` in-process | served / in-process (median of per-repeat ratios [min–max]) |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| Single request, decode tok/s (32-token prompt, 128 out) | {Samples.MedianOf([.. served]):F1} [{served.Min():F1}–{served.Max():F1}] | {Samples.MedianOf([.. genai]):F1} [{genai.Min():F1}–{genai.Max():F1}] | **{Samples.MedianOf([.. ratios]):F3}×** [{ratios.Min():F3}–{ratios.Max():F3}] |");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
        File.WriteAllText(outFile, md.ToString());
        Console.Out.Write(md.ToString());
        return 0;
    }

    static string DefaultBinary()
    {
        string rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        return Path.Combine("artifacts", "publish", rid, "onnxlm");
    }

    /// <summary>One fresh <c>onnxlm serve</c>: a full-length warm-up request, then <paramref name="runs"/> measured ones.</summary>
    static List<double> ServedRates(string onnxlm, string dir, int threads, int runs)
    {
        var psi = new ProcessStartInfo(onnxlm) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "serve", "--model", dir, "--port", "0", "--threads", threads.ToString(CultureInfo.InvariantCulture), "--no-ssd-cache", "--no-prefix-cache" })
            psi.ArgumentList.Add(a);
        foreach (string k in psi.Environment.Keys.Where(k => k.StartsWith("ONNXLM_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(k);
        using var server = Process.Start(psi) ?? throw new InvalidOperationException("could not start onnxlm serve");
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null) return;
            lines.Enqueue(line);
            int at = line.IndexOf("listening on http://", StringComparison.Ordinal);
            if (at >= 0) address.TrySetResult(new Uri(line[(at + "listening on ".Length)..].Split(' ')[0]));
        }
        server.OutputDataReceived += (_, e) => OnLine(e.Data);
        server.ErrorDataReceived += (_, e) => OnLine(e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            var baseAddress = address.Task.WaitAsync(TimeSpan.FromSeconds(120)).GetAwaiter().GetResult();
            using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
            var ready = Stopwatch.StartNew();
            while (ready.Elapsed < TimeSpan.FromSeconds(120))
            {
                try
                {
                    using var probe = http.GetAsync("/readyz").GetAwaiter().GetResult();
                    if (probe.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                Thread.Sleep(20);
            }
            int[] prompt = EngineComparison.Prompt(1, ComparisonOptions.SinglePromptTokens, ModelBuilderOptions.Benchmark.EndOfTextTokenId);
            string body = $"{{\"prompt\":[{string.Join(',', prompt)}],\"max_tokens\":{ComparisonOptions.SingleNewTokens},\"temperature\":0,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{{\"include_usage\":true}}}}";
            StreamOnce(http, body);   // warm-up as long as a measured run
            // The engine moves its weights to huge pages after readiness: measure after that, as the in-process runs do.
            var settle = Stopwatch.StartNew();
            while (settle.Elapsed < TimeSpan.FromSeconds(30) && !lines.Any(l => l.Contains("huge pages", StringComparison.Ordinal))) Thread.Sleep(20);
            var rates = new List<double>();
            for (int i = 0; i < runs; i++) rates.Add(StreamOnce(http, body));
            return rates;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit();
            }
        }
    }

    /// <summary>One streamed completion; its decode rate as the client reads it.</summary>
    static double StreamOnce(HttpClient http, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = http.Send(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(response.Content.ReadAsStream());
        long first = 0, last = 0;
        int tokens = -1;
        while (reader.ReadLine() is { } line)
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            long now = Stopwatch.GetTimestamp();
            int usage = line.IndexOf("\"completion_tokens\":", StringComparison.Ordinal);
            if (usage >= 0)
            {
                var digits = line.AsSpan(usage + "\"completion_tokens\":".Length);
                int end = digits.IndexOfAnyExceptInRange('0', '9');
                tokens = int.Parse(end < 0 ? digits : digits[..end], CultureInfo.InvariantCulture);
            }
            if (line.Contains("\"text\":", StringComparison.Ordinal))
            {
                if (first == 0) first = now;
                last = now;
            }
        }
        if (tokens != ComparisonOptions.SingleNewTokens || first == 0 || last <= first)
            throw new InvalidOperationException($"the streamed request produced {tokens} tokens, not {ComparisonOptions.SingleNewTokens}");
        return (tokens - 1) / RequestTiming.Seconds(first, last);
    }
}
