using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxLm.Builder;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>
/// Start-up of a 1B-parameter-shaped int4 model with a real vocabulary (Llama 3.2's 128,256 and Gemma 3's 262,144
/// embeddings, their real tokenizer files from shared/tokenizers): time from process start until a chat request can be
/// served, resident memory then, and the first-token latency of a chat request. onnxlm runs as `onnxlm serve` (to
/// /readyz; TTFT of a streamed request through HTTP); GenAI's Generator runs in a child process of its own (Model and
/// Tokenizer loaded; TTFT from the chat template to the first generated token). Each repeat is a fresh process, the order
/// alternating.
/// </summary>
public static class RealVocabStartup
{
    public const string ChildMode = "startup-child";

    const string Usage = "usage: startup [--model-cache DIR] [--shared DIR] [--onnxlm PATH] [--families llama-3.2,gemma-3] [--repeats N] [--threads N] [--out FILE.json]";

    const string Messages = """[{"role":"system","content":"You are a helpful assistant. Answer briefly and precisely."},{"role":"user","content":"Explain in two sentences why the sky is blue, and mention Rayleigh scattering by name."}]""";

    sealed record Family(string Name, string Folder, ModelBuilderOptions Shape, int Bos, int[] Eos);

    static readonly Family[] Families =
    [
        // Llama 3.2 1B: hidden 2048, 16 layers, 32 heads (8 kv) of 64, MLP 8192.
        new("llama-3.2", "llama-3.2-instruct", new ModelBuilderOptions
        {
            VocabSize = 128_256, HiddenSize = 2048, NumLayers = 16, NumHeads = 32, NumKvHeads = 8, HeadSize = 64,
            IntermediateSize = 8192, ContextLength = 131_072, Weights = WeightFormat.Int4, RopeTheta = 500_000,
        }, 128_000, [128_001, 128_008, 128_009]),
        // Gemma 3 1B: hidden 1152, 26 layers, 4 heads (1 kv) of 256, MLP 6912 (built as a llama-style decoder).
        new("gemma-3", "gemma-3-1b-it", new ModelBuilderOptions
        {
            VocabSize = 262_144, HiddenSize = 1152, NumLayers = 26, NumHeads = 4, NumKvHeads = 1, HeadSize = 256,
            IntermediateSize = 6912, ContextLength = 32_768, Weights = WeightFormat.Int4, RopeTheta = 1_000_000,
        }, 2, [1, 106]),
    ];

    public static int Run(string[] args)
    {
        string cache = BenchmarkModel.DefaultCache, shared = FindShared(), onnxlm = DefaultOnnxlm(), outPath = "artifacts/perf/startup.json";
        int repeats = 3, threads = 2;
        var names = Families.Select(f => f.Name).ToList();
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--model-cache": cache = Next() ?? ""; break;
                case "--shared": shared = Next() ?? ""; break;
                case "--onnxlm": onnxlm = Next() ?? ""; break;
                case "--out": outPath = Next() ?? ""; break;
                case "--families": names = (Next() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToList(); break;
                case "--repeats" when int.TryParse(Next(), out int r) && r > 0: repeats = r; break;
                case "--threads" when int.TryParse(Next(), out int t) && t > 0: threads = t; break;
                default: Console.Error.WriteLine(Usage); return 2;
            }
        }
        if (names.Any(n => Families.All(f => f.Name != n)) || cache.Length == 0 || outPath.Length == 0 || !File.Exists(onnxlm))
        {
            Console.Error.WriteLine($"{Usage}\n(families: {string.Join(", ", Families.Select(f => f.Name))}; onnxlm binary: {onnxlm})");
            return 2;
        }

        var results = new List<object>();
        using var report = new MemoryStream();
        using (var w = new Utf8JsonWriter(report, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("command", "perf/OnnxLm.Benchmarks startup " + string.Join(' ', args));
            w.WriteString("commit", Git("rev-parse --short HEAD"));
            w.WriteString("load", File.ReadAllText("/proc/loadavg").Trim());
            w.WriteNumber("threads", threads);
            w.WriteStartArray("families");
            foreach (var family in Families.Where(f => names.Contains(f.Name)))
            {
                string dir = Ensure(cache, shared, family);
                var onnx = new List<Sample>();
                var genai = new List<Sample>();
                for (int r = 0; r < repeats; r++)
                {
                    // Alternate which runtime goes first: the page cache and the machine's state drift over a run.
                    if (r % 2 == 0) { onnx.Add(MeasureOnnxlm(onnxlm, dir, threads)); genai.Add(MeasureGenAi(dir, threads)); }
                    else { genai.Add(MeasureGenAi(dir, threads)); onnx.Add(MeasureOnnxlm(onnxlm, dir, threads)); }
                    Console.WriteLine($"{family.Name} repeat {r + 1}: onnxlm {onnx[^1]} | genai {genai[^1]}");
                }
                w.WriteStartObject();
                w.WriteString("family", family.Name);
                w.WriteString("model", dir);
                w.WriteNumber("parameters", family.Shape.ParameterCount);
                w.WriteNumber("vocab", family.Shape.VocabSize);
                Write(w, "onnxlm", onnx);
                Write(w, "genai", genai);
                w.WriteEndObject();
                Console.WriteLine($"{family.Name}: onnxlm ready {Median(onnx, s => s.ReadyMs):F0} ms, RSS {Median(onnx, s => s.RssMiB):F0} MiB, TTFT {Median(onnx, s => s.TtftMs):F0} ms" +
                    $" | GenAI ready {Median(genai, s => s.ReadyMs):F0} ms, RSS {Median(genai, s => s.RssMiB):F0} MiB, TTFT {Median(genai, s => s.TtftMs):F0} ms");
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllBytes(outPath, report.ToArray());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    readonly record struct Sample(double ReadyMs, double RssMiB, double TtftMs, int PromptTokens)
    {
        public override string ToString() => $"ready {ReadyMs:F0} ms, RSS {RssMiB:F0} MiB, TTFT {TtftMs:F0} ms ({PromptTokens} prompt tokens)";
    }

    static void Write(Utf8JsonWriter w, string name, List<Sample> samples)
    {
        w.WriteStartObject(name);
        w.WriteNumber("ready_ms_median", Median(samples, s => s.ReadyMs));
        w.WriteNumber("rss_mib_median", Median(samples, s => s.RssMiB));
        w.WriteNumber("ttft_ms_median", Median(samples, s => s.TtftMs));
        w.WriteNumber("prompt_tokens", samples[0].PromptTokens);
        w.WriteStartArray("samples");
        foreach (var s in samples)
        {
            w.WriteStartObject();
            w.WriteNumber("ready_ms", s.ReadyMs);
            w.WriteNumber("rss_mib", s.RssMiB);
            w.WriteNumber("ttft_ms", s.TtftMs);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static double Median(List<Sample> samples, Func<Sample, double> f)
    {
        var v = samples.Select(f).Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    static string Ensure(string cache, string shared, Family family)
    {
        string source = Path.Combine(shared, family.Folder);
        var files = new[] { "tokenizer.json", "tokenizer_config.json" }.Select(f => Path.Combine(source, f)).ToImmutableArray();
        var options = family.Shape with { Tokenizer = new TokenizerSource(family.Name, files, family.Bos, [.. family.Eos]) };
        string dir = Path.Combine(cache, $"startup-{family.Name}-int4-v{ModelBuilder.FormatVersion}");
        if (File.Exists(Path.Combine(dir, ModelBuilder.GenAiConfigFileName))) return dir;
        Console.WriteLine($"building {dir} ({options.ParameterCount / 1e9:F2}B parameters)");
        var sw = Stopwatch.StartNew();
        ModelBuilder.Build(dir, options);
        Console.WriteLine($"built in {sw.Elapsed.TotalSeconds:F0} s");
        return dir;
    }

    static Sample MeasureOnnxlm(string binary, string dir, int threads)
    {
        int port = FreePort();
        var psi = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "serve", "--model", dir, "--port", port.ToString(CultureInfo.InvariantCulture), "--threads",
                     threads.ToString(CultureInfo.InvariantCulture), "--no-ssd-cache", "--context-length", "4096", "--max-batch-size", "8" })
            psi.ArgumentList.Add(a);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(5) };
        var started = Stopwatch.StartNew();
        using var server = Process.Start(psi) ?? throw new InvalidOperationException("onnxlm did not start");
        var logs = new StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (logs) logs.AppendLine(e.Data); };
        server.ErrorDataReceived += (_, e) => { lock (logs) logs.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            while (true)
            {
                if (server.HasExited) throw new InvalidOperationException($"onnxlm exited with {server.ExitCode}:\n{logs}");
                try
                {
                    using var ready = http.GetAsync("readyz").GetAwaiter().GetResult();
                    if (ready.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException)
                {
                }
                Thread.Sleep(5);
            }
            double readyMs = started.Elapsed.TotalMilliseconds;
            double rss = RssMiB(server.Id);

            string body = "{\"messages\":" + Messages + ",\"max_tokens\":8,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
            };
            var t0 = Stopwatch.GetTimestamp();
            using var response = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(response.Content.ReadAsStream());
            double ttft = double.NaN;
            int promptTokens = 0;
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                var root = chunk.RootElement;
                if (double.IsNaN(ttft) && root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                    && content.GetString()!.Length > 0)   // the first chunk carries the role with an empty content
                    ttft = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    promptTokens = usage.GetProperty("prompt_tokens").GetInt32();
            }
            return new Sample(readyMs, rss, ttft, promptTokens);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
                server.WaitForExit();
            }
        }
    }

    static Sample MeasureGenAi(string dir, int threads)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var psi = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardInput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(RealVocabStartup).Assembly.Location);
        foreach (var a in new[] { ChildMode, dir, threads.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        var started = Stopwatch.StartNew();
        using var child = Process.Start(psi) ?? throw new InvalidOperationException("the GenAI child did not start");
        double readyMs = double.NaN, rss = double.NaN, ttft = double.NaN;
        int promptTokens = 0;
        while (child.StandardOutput.ReadLine() is { } line)
        {
            if (line == "READY")
            {
                readyMs = started.Elapsed.TotalMilliseconds;
                rss = RssMiB(child.Id);
                child.StandardInput.WriteLine();
            }
            else if (line.StartsWith("TTFT ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                ttft = double.Parse(parts[1], CultureInfo.InvariantCulture);
                promptTokens = int.Parse(parts[2], CultureInfo.InvariantCulture);
            }
        }
        child.WaitForExit();
        if (child.ExitCode != 0 || double.IsNaN(ttft)) throw new InvalidOperationException($"the GenAI child exited with {child.ExitCode}");
        return new Sample(readyMs, rss, ttft, promptTokens);
    }

    /// <summary>The child: loads GenAI's Model and Tokenizer (what GenAI needs before it can serve), prints READY, then
    /// times one chat request from the template to the first generated token.</summary>
    public static int Child(string[] args)
    {
        if (args.Length != 2 || !int.TryParse(args[1], out int threads))
        {
            Console.Error.WriteLine($"usage: {ChildMode} MODEL_DIR THREADS");
            return 2;
        }
        using var config = new Config(args[0]);
        config.Overlay("""{"model":{"decoder":{"session_options":{"intra_op_num_threads":""" + threads.ToString(CultureInfo.InvariantCulture) +
            ""","inter_op_num_threads":1}}}}""");
        using var model = new Model(config);
        using var tokenizer = new Tokenizer(model);
        Console.WriteLine("READY");
        Console.Out.Flush();
        Console.In.ReadLine();   // the parent reads RSS while the process is idle and ready
        var t0 = Stopwatch.GetTimestamp();
        string prompt = tokenizer.ApplyChatTemplate(null, Messages, null, true);
        using var sequences = tokenizer.Encode(prompt);
        int[] ids = sequences[0].ToArray();
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", 4096);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(ids);
        generator.GenerateNextToken();
        double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TTFT {ms:F2} {ids.Length}"));
        return 0;
    }

    static double RssMiB(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    static string FindShared()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "tokenizers");
            if (Directory.Exists(candidate)) return candidate;
        }
        return "../shared/tokenizers";
    }

    static string DefaultOnnxlm()
    {
        string rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        return Path.GetFullPath(Path.Combine("src", "OnnxLm", "bin", "Release", "net10.0", rid, "onnxlm"));
    }

    static string Git(string args)
    {
        try
        {
            var psi = new ProcessStartInfo("git", args) { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return s;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }
}
