using System.Globalization;
using OnnxLm.Load.Client;
using OnnxLm.Load.Running;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Load.Cli;

/// <summary>
/// Parsed command line of <c>onnxlm-load run</c> and <c>onnxlm-load compare</c>. Parsing validates everything it can
/// without the network (ranges, combinations, loopback target), so a bad flag fails before any server starts.
/// </summary>
public sealed class LoadOptions
{
    public bool Compare { get; private set; }
    public Uri Url { get; private set; } = new("http://127.0.0.1:8000/");
    public bool AllowRemote { get; private set; }
    public string? ModelName { get; private set; }
    public string WorkloadName { get; private set; } = "random";
    public EndpointKind Api { get; private set; } = EndpointKind.Chat;
    public LengthSpec InputTokens { get; private set; } = LengthSpec.Fixed(128);
    public LengthSpec OutputTokens { get; private set; } = LengthSpec.Fixed(64);
    public bool PromptTokensExact { get; private set; }
    public int TokenIdMin { get; private set; } = 256;
    public int TokenIdMax { get; private set; } = 8000;
    public int Groups { get; private set; } = 4;
    public int SystemTokens { get; private set; } = 512;
    public LengthSpec QuestionTokens { get; private set; } = LengthSpec.Fixed(32);
    public int Turns { get; private set; } = 4;
    public LengthSpec TurnTokens { get; private set; } = LengthSpec.Fixed(32);
    public string? ReplayFile { get; private set; }
    public List<Arrival> Arrivals { get; } = [];
    public int? Requests { get; private set; }
    public double? DurationS { get; private set; }
    public int Warmup { get; private set; } = 1;
    public float Temperature { get; private set; }
    public int Seed { get; private set; } = 1;
    public bool IgnoreEos { get; private set; }
    /// <summary>multi-turn: each conversation sends its own prompt_cache_key (for cache-affinity routing).</summary>
    public bool SessionKeys { get; private set; }
    public double? SloTtftMs { get; private set; }
    public double? SloTpotMs { get; private set; }
    public double TimeoutS { get; private set; } = 600;
    public string? OutJson { get; private set; }
    public string? OutMarkdown { get; private set; }
    public bool PerRequest { get; private set; }
    public string? Label { get; private set; }
    /// <summary>Raw JSON object sent as <c>response_format</c> by every request (<c>--response-format FILE</c>).</summary>
    public string? ResponseFormat { get; private set; }
    /// <summary>In compare: the <c>response_format</c> of server A's or B's requests only (overrides <see cref="ResponseFormat"/>).</summary>
    public string? ResponseFormatA { get; private set; }
    public string? ResponseFormatB { get; private set; }
    /// <summary>In compare: B is onnxlm too (the same default command as A, with <c>--b-args</c>), e.g. to compare
    /// constrained with unconstrained decoding on one build.</summary>
    public bool BIsOnnxLm { get; private set; }

    // compare
    public string? ModelDir { get; private set; }
    public string? CommandA { get; private set; }
    public string? CommandB { get; private set; }
    public string NameA { get; private set; } = "onnxlm";
    public string NameB { get; private set; } = "genai-baseline";
    public int PortA { get; private set; } = 18431;
    public int PortB { get; private set; } = 18432;
    public string? ExtraArgsA { get; private set; }
    public string? ExtraArgsB { get; private set; }
    public int? Threads { get; private set; }
    public int Repeats { get; private set; } = 1;
    public string LogDir { get; private set; } = Path.GetTempPath();
    public double StartupTimeoutS { get; private set; } = 180;

    public RequestOptions RequestOptions => new(ModelName, Temperature, IgnoreEos, null, ResponseFormat);

    /// <summary>The request fields for compare's server A (<paramref name="a"/>) or B.</summary>
    public RequestOptions RequestOptionsFor(bool a) => RequestOptions with { ResponseFormat = (a ? ResponseFormatA : ResponseFormatB) ?? ResponseFormat };

    /// <summary>The run limits; with neither --requests nor --duration: a replay file once, otherwise 32 requests.</summary>
    public RunLimits LimitsFor(Workload workload) =>
        new(Requests ?? (DurationS is not null ? int.MaxValue : workload is ReplayWorkload replay ? replay.Count : 32),
            DurationS is { } d ? TimeSpan.FromSeconds(d) : null);

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        var o = new LoadOptions();
        int i = 0;
        if (args.Count > 0 && !args[0].StartsWith('-'))
        {
            o.Compare = args[0] switch
            {
                "run" => false,
                "compare" => true,
                var c => throw new UsageException($"unknown command '{c}' (run or compare)"),
            };
            i = 1;
        }
        var concurrency = new List<int>();
        var rates = new List<double>();
        for (; i < args.Count; i++)
        {
            string flag = args[i];
            string Value()
            {
                if (i + 1 >= args.Count) throw new UsageException($"{flag} needs a value");
                return args[++i];
            }
            int Int(int min, int max)
            {
                string v = Value();
                if (!int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
                    throw new UsageException($"{flag} must be an integer in [{min}, {max}] (got '{v}')");
                return n;
            }
            double Dbl(double min)
            {
                string v = Value();
                if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !(d >= min) || double.IsInfinity(d))
                    throw new UsageException($"{flag} must be a number >= {min} (got '{v}')");
                return d;
            }
            LengthSpec Len()
            {
                try { return LengthSpec.Parse(flag, Value()); }
                catch (FormatException e) { throw new UsageException(e.Message); }
            }
            switch (flag)
            {
                case "--url": o.Url = ParseUrl(Value()); break;
                case "--allow-remote": o.AllowRemote = true; break;
                case "--model-name": o.ModelName = Value(); break;
                case "--workload":
                    o.WorkloadName = Value();
                    if (o.WorkloadName is not ("random" or "shared-prefix" or "multi-turn" or "replay"))
                        throw new UsageException($"--workload must be random, shared-prefix, multi-turn or replay (got '{o.WorkloadName}')");
                    break;
                case "--api":
                    o.Api = Value() switch
                    {
                        "chat" => EndpointKind.Chat,
                        "completions" => EndpointKind.Completion,
                        var a => throw new UsageException($"--api must be chat or completions (got '{a}')"),
                    };
                    break;
                case "--input-tokens": o.InputTokens = Len(); break;
                case "--output-tokens": o.OutputTokens = Len(); break;
                case "--prompt-tokens-exact": o.PromptTokensExact = true; break;
                case "--token-id-range":
                    var range = Len();
                    if (range.IsFixed) throw new UsageException("--token-id-range needs A:B");
                    (o.TokenIdMin, o.TokenIdMax) = (range.Min, range.Max);
                    break;
                case "--groups": o.Groups = Int(1, 100_000); break;
                case "--system-tokens": o.SystemTokens = Int(1, 1 << 20); break;
                case "--question-tokens": o.QuestionTokens = Len(); break;
                case "--turns": o.Turns = Int(1, 1000); break;
                case "--turn-tokens": o.TurnTokens = Len(); break;
                case "--replay": o.ReplayFile = Value(); break;
                case "--concurrency":
                    foreach (var part in Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        concurrency.Add(int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int c) && c is >= 1 and <= 10_000
                            ? c : throw new UsageException($"--concurrency takes integers in [1, 10000], comma separated (got '{part}')"));
                    break;
                case "--rate":
                    foreach (var part in Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        rates.Add(double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && r > 0 && double.IsFinite(r)
                            ? r : throw new UsageException($"--rate takes positive numbers (requests/s), comma separated (got '{part}')"));
                    break;
                case "--requests": o.Requests = Int(1, int.MaxValue); break;
                case "--duration": o.DurationS = Dbl(0.001); break;
                case "--warmup": o.Warmup = Int(0, 10_000); break;
                case "--temperature": o.Temperature = (float)Dbl(0); break;
                case "--seed": o.Seed = Int(int.MinValue, int.MaxValue); break;
                case "--ignore-eos": o.IgnoreEos = true; break;
                case "--session-keys": o.SessionKeys = true; break;
                case "--slo-ttft-ms": o.SloTtftMs = Dbl(0); break;
                case "--slo-tpot-ms": o.SloTpotMs = Dbl(0); break;
                case "--timeout": o.TimeoutS = Dbl(0.001); break;
                case "--out": o.OutJson = Value(); break;
                case "--md": o.OutMarkdown = Value(); break;
                case "--per-request": o.PerRequest = true; break;
                case "--label": o.Label = Value(); break;
                case "--response-format": o.ResponseFormat = ReadResponseFormat(flag, Value()); break;
                case "--a-response-format": o.ResponseFormatA = ReadResponseFormat(flag, Value()); break;
                case "--b-response-format": o.ResponseFormatB = ReadResponseFormat(flag, Value()); break;
                case "--b-onnxlm": o.BIsOnnxLm = true; break;
                case "--model": o.ModelDir = Value(); break;
                case "--a-cmd": o.CommandA = Value(); break;
                case "--b-cmd": o.CommandB = Value(); break;
                case "--a-name": o.NameA = Value(); break;
                case "--b-name": o.NameB = Value(); break;
                case "--a-port": o.PortA = Int(1, 65535); break;
                case "--b-port": o.PortB = Int(1, 65535); break;
                case "--a-args": o.ExtraArgsA = Value(); break;
                case "--b-args": o.ExtraArgsB = Value(); break;
                case "--threads": o.Threads = Int(1, 1024); break;
                case "--repeats": o.Repeats = Int(1, 1000); break;
                case "--log-dir": o.LogDir = Value(); break;
                case "--startup-timeout": o.StartupTimeoutS = Dbl(1); break;
                default: throw new UsageException($"unknown option '{flag}'");
            }
        }

        if (concurrency.Count > 0 && rates.Count > 0) throw new UsageException("give --concurrency or --rate, not both");
        foreach (int c in concurrency) o.Arrivals.Add(Arrival.Closed(c));
        foreach (double r in rates) o.Arrivals.Add(Arrival.Poisson(r));
        if (o.Arrivals.Count == 0) o.Arrivals.Add(Arrival.Closed(1));
        if (o.WorkloadName == "replay" && o.ReplayFile is null) throw new UsageException("--workload replay needs --replay FILE");
        if (o.WorkloadName == "multi-turn" && (o.PromptTokensExact || o.Api == EndpointKind.Completion))
            throw new UsageException("multi-turn sends chats: it cannot use --api completions or --prompt-tokens-exact");
        if (o.TokenIdMin < 0 || o.TokenIdMax <= o.TokenIdMin) throw new UsageException("--token-id-range needs 0 <= A < B");
        if (o.Compare)
        {
            if (o.ModelDir is null && (o.CommandA is null || o.CommandB is null))
                throw new UsageException("compare needs --model DIR, or both --a-cmd and --b-cmd");
            if (o.PortA == o.PortB) throw new UsageException("--a-port and --b-port must differ");
        }
        else if (!o.AllowRemote && !IsLoopback(o.Url))
            throw new UsageException($"refusing non-loopback target {o.Url.Host}: pass --allow-remote to load a remote server");
        return o;
    }

    static Uri ParseUrl(string text)
    {
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new UsageException($"--url must be an absolute http(s) URL (got '{text}')");
        return uri;
    }

    /// <summary>True for localhost and loopback IP literals (127.0.0.0/8, ::1).</summary>
    /// <summary>The <c>response_format</c> object in FILE, minified; anything but a readable JSON object is a usage error.</summary>
    static string ReadResponseFormat(string flag, string file)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(file));
            if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
                throw new UsageException($"{flag} {file}: expected a JSON object (e.g. {{\"type\":\"json_schema\",\"json_schema\":{{...}}}})");
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var w = new System.Text.Json.Utf8JsonWriter(buffer)) doc.RootElement.WriteTo(w);
            return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new UsageException($"{flag} {file}: {e.Message}");
        }
    }

    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase);

    /// <summary>The seed of run <paramref name="index"/> (arrival settings × repeats, in order): distinct per run.</summary>
    public int RunSeed(int index) => unchecked(Seed + 1_000_003 * index);

    public Workload CreateWorkload(int seed)
    {
        var prompts = new PromptSource(Api, PromptTokensExact, TokenIdMin, TokenIdMax + 1);
        return WorkloadName switch
        {
            "shared-prefix" => new SharedPrefixWorkload(prompts, Groups, SystemTokens, QuestionTokens, OutputTokens, seed),
            "multi-turn" => new MultiTurnWorkload(Turns, InputTokens, TurnTokens, OutputTokens, seed, SessionKeys),
            "replay" => new ReplayWorkload(ReplayFile!),
            _ => new RandomWorkload(prompts, InputTokens, OutputTokens, seed),
        };
    }
}
