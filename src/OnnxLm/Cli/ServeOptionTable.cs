using System.Globalization;
using System.Net;
using System.Text;
using OnnxLm.Hosting;
using OnnxLm.Http;

namespace OnnxLm.Cli;

/// <summary>
/// The one table of <c>serve</c> options. The CLI parser, the <c>ONNXLM_*</c> environment reader, the JSON config reader
/// (<see cref="ServeConfig"/>), <c>--help</c> (<see cref="RenderHelp"/>) and <c>config show</c> all iterate it, so an
/// option added here exists everywhere at once and nowhere else.
/// </summary>
internal static class ServeOptionTable
{
    static string Int(int n) => n.ToString(CultureInfo.InvariantCulture);
    static string Int(int? n, string none) => n is { } v ? Int(v) : none;
    static string Bytes(long? n, string none) => n is { } v ? ServeOption.FormatBytes(v) : none;
    static string List(List<string> items, bool secret) =>
        items.Count == 0 ? "(none)" : string.Join(", ", secret ? Enumerable.Repeat("***", items.Count) : items);

    public static readonly ServeOption[] All =
    [
        new()
        {
            Name = "config", Kind = OptionKind.Value, ValueName = "FILE", InFile = false,
            Help = "JSON config file with any of these options as keys (\"max-batch-size\": 8 or \"max_batch_size\": 8)",
            DefaultText = "~/.config/onnxlm/onnxlm.json when present",
            Apply = (o, v) => o.ConfigFile = ServeOption.NonEmpty(v), Show = o => o.ConfigFile ?? "(none)",
        },
        new()
        {
            Name = "model", Kind = OptionKind.Value, ValueName = "DIR|REPO",
            Help = "ONNX Runtime GenAI model folder (genai_config.json, model.onnx, tokenizer.json, tokenizer_config.json), or a Hugging Face repository REPO = ORG/NAME[:FOLDER][@REVISION] served from its cache (pulled first when missing)",
            DefaultText = "a built-in random-weight test model",
            Apply = (o, v) => o.Model = ServeOption.NonEmpty(v), Show = o => o.Model ?? "(built-in test model)",
        },
        new()
        {
            Name = "offline", Kind = OptionKind.Switch,
            Help = "never touch the network: a repository --model must be in the Hugging Face cache (as with HF_HUB_OFFLINE=1)",
            DefaultText = "off",
            Apply = (o, v) => o.Offline = ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(o.Offline),
        },
        new()
        {
            Name = "host", Kind = OptionKind.Value, ValueName = "ADDR", Help = "address to bind (an IP address or localhost)",
            DefaultText = "127.0.0.1",
            Apply = (o, v) => o.Host = IPAddress.TryParse(v, out _) || v == "localhost" ? v
                : throw new OptionValueException("must be an IP address or localhost"),
            Show = o => o.Host,
        },
        new()
        {
            Name = "port", Kind = OptionKind.Value, ValueName = "N", Help = "port (0 = any free port)", DefaultText = "8000",
            Apply = (o, v) => o.Port = ServeOption.ParseInt(v, 0, 65535), Show = o => Int(o.Port),
        },
        new()
        {
            Name = "max-batch-size", Kind = OptionKind.Value, ValueName = "N", Help = "sequences decoded together", DefaultText = "8",
            Apply = (o, v) => o.MaxBatchSize = ServeOption.ParseInt(v, 1, 256), Show = o => Int(o.MaxBatchSize),
        },
        new()
        {
            Name = "prefill-step-size", Kind = OptionKind.Value, ValueName = "N", Help = "prompt tokens per prefill chunk", DefaultText = "512",
            Apply = (o, v) => o.PrefillStepSize = ServeOption.ParseInt(v, 1, 65536), Show = o => Int(o.PrefillStepSize),
        },
        new()
        {
            Name = "decode-prefill-tokens", Kind = OptionKind.Value, ValueName = "N",
            Help = "prompt tokens per prefill chunk while other sequences decode (bounds their inter-token latency; 0 = the prefill step size)",
            DefaultText = "0",
            Apply = (o, v) => o.DecodePrefillTokens = ServeOption.ParseInt(v, 0, 65536), Show = o => Int(o.DecodePrefillTokens),
        },
        new()
        {
            Name = "max-queue", Kind = OptionKind.Value, ValueName = "N", Help = "requests waiting for a slot before 429", DefaultText = "128",
            Apply = (o, v) => o.MaxQueue = ServeOption.ParseInt(v, 1, 1_000_000), Show = o => Int(o.MaxQueue),
        },
        new()
        {
            Name = "context-length", Kind = OptionKind.Value, ValueName = "N", Help = "tokens per sequence", DefaultText = "the model's context length, capped by the memory budget",
            Apply = (o, v) => o.ContextLength = ServeOption.ParseInt(v, 2, 1 << 24), Show = o => Int(o.ContextLength, "(the model's)"),
        },
        new()
        {
            Name = "threads", Kind = OptionKind.Value, ValueName = "N", Help = "ONNX Runtime threads (0 = one per core)", DefaultText = "0",
            Apply = (o, v) => o.Threads = ServeOption.ParseInt(v, 0, 1024), Show = o => Int(o.Threads),
        },
        new()
        {
            Name = "no-huge-pages", Kind = OptionKind.Switch,
            Help = "do not move the loaded weights into transparent huge pages (Linux; faster decode, ~0.1-0.6 s more start-up)",
            DefaultText = "off",
            Apply = (o, v) => o.HugePages = !ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(!o.HugePages),
        },
        new()
        {
            Name = "no-prefix-cache", Kind = OptionKind.Switch, Help = "do not reuse the KV of earlier prompts (block cache and row reuse)",
            DefaultText = "off",
            Apply = (o, v) => o.PrefixCache = !ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(!o.PrefixCache),
        },
        new()
        {
            Name = "block-size", Kind = OptionKind.Value, ValueName = "N", Help = "tokens per cached KV block", DefaultText = "16",
            Apply = (o, v) => o.BlockSize = ServeOption.ParseInt(v, 1, 1024), Show = o => Int(o.BlockSize),
        },
        new()
        {
            Name = "kv-cache-memory", Kind = OptionKind.Value, ValueName = "BYTES", Help = "block pool size, e.g. 2G or 512M",
            DefaultText = "a fifth of RAM, at most 8G, at most a quarter of the memory budget left after the weights",
            Apply = (o, v) => o.KvCacheMemory = ServeOption.ParseBytes(v), Show = o => Bytes(o.KvCacheMemory, "(auto)"),
        },
        new()
        {
            Name = "memory-budget", Kind = OptionKind.Value, ValueName = "BYTES",
            Help = "memory for the weights, the prefix cache and every slot's KV at full context, e.g. 12G; caps the default context, refuses a --context-length that does not fit",
            DefaultText = "available memory (Linux) or physical memory (macOS) less a reserve",
            Apply = (o, v) => o.MemoryBudget = ServeOption.ParseBytes(v), Show = o => Bytes(o.MemoryBudget, "(auto)"),
        },
        new()
        {
            Name = "kv-bits", Kind = OptionKind.Value, ValueName = "8|16|32",
            Help = "block storage: the model's own KV type (lossless) or 8 (int8, lossy)", DefaultText = "the model's KV type",
            Apply = (o, v) => o.KvBits = ServeOption.ParseInt(v, 8, 32) is var b and (8 or 16 or 32) ? b
                : throw new OptionValueException("must be 8, 16 or 32"),
            Show = o => o.KvBits == 0 ? "(the model's)" : Int(o.KvBits),
        },
        new()
        {
            Name = "kv-group-size", Kind = OptionKind.Value, ValueName = "N", Help = "values per int8 scale", DefaultText = "64",
            Apply = (o, v) => o.KvGroupSize = ServeOption.ParseInt(v, 1, 65536), Show = o => Int(o.KvGroupSize),
        },
        new()
        {
            Name = "no-ssd-cache", Kind = OptionKind.Switch, Help = "do not keep evicted KV blocks on disk", DefaultText = "off",
            Apply = (o, v) => o.SsdCache = !ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(!o.SsdCache),
        },
        new()
        {
            Name = "kv-cache-dir", Kind = OptionKind.Value, ValueName = "DIR", Help = "SSD tier root",
            DefaultText = "~/Library/Caches/onnxlm/kv on macOS, $XDG_CACHE_HOME/onnxlm/kv or ~/.cache/onnxlm/kv on Linux",
            Apply = (o, v) => o.KvCacheDir = ServeOption.NonEmpty(v), Show = o => o.KvCacheDir ?? "(platform default)",
        },
        new()
        {
            Name = "ssd-write-through", Kind = OptionKind.Switch, Help = "write every committed block to disk, not only evicted ones",
            DefaultText = "off",
            Apply = (o, v) => o.SsdWriteThrough = ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(o.SsdWriteThrough),
        },
        new()
        {
            Name = "ssd-ttl-days", Kind = OptionKind.Value, ValueName = "N", Help = "prune SSD blocks unused for N days", DefaultText = "7",
            Apply = (o, v) => o.SsdTtlDays = ServeOption.ParseInt(v, 1, 36500), Show = o => Int(o.SsdTtlDays),
        },
        new()
        {
            Name = "ssd-max-bytes", Kind = OptionKind.Value, ValueName = "BYTES", Help = "cap of the SSD tier",
            DefaultText = "a quarter of the free disk space",
            Apply = (o, v) => o.SsdMaxBytes = ServeOption.ParseBytes(v), Show = o => Bytes(o.SsdMaxBytes, "(auto)"),
        },
        new()
        {
            Name = "remote-kv", Kind = OptionKind.Value, ValueName = "URL", Secret = true,
            Help = "share KV blocks between replicas through Redis: redis://HOST:PORT[?password=...&db=N] (a third tier under RAM and SSD; see docs/SCALEOUT.md)",
            DefaultText = "off",
            Apply = (o, v) => o.RemoteKv = Engine.Cache.Remote.RedisEndpoint.TryParse(v, out string? error) ?? throw new OptionValueException(error!),
            Show = o => o.RemoteKv?.ToString() ?? "off",
        },
        new()
        {
            Name = "served-model-name", Kind = OptionKind.Value, ValueName = "NAME", Help = "model id clients see and send",
            DefaultText = "the model folder's name",
            Apply = (o, v) => o.ServedModelName = ServeOption.NonEmpty(v, 256), Show = o => o.ServedModelName ?? "(the model folder's name)",
        },
        new()
        {
            Name = "chat-template", Kind = OptionKind.Value, ValueName = "FILE",
            Help = "Jinja chat template to use instead of the model's own (chat_template.jinja, else tokenizer_config.json)",
            DefaultText = "the model's",
            Apply = (o, v) => o.ChatTemplate = ServeOption.NonEmpty(v), Show = o => o.ChatTemplate ?? "(the model's)",
        },
        new()
        {
            Name = "replica-name", Kind = OptionKind.Value, ValueName = "NAME",
            Help = "this replica's name: the X-Onnxlm-Replica response header and the request log's replica= (behind a load balancer)",
            DefaultText = "host:port",
            Apply = (o, v) => o.ReplicaName = ServeOption.NonEmpty(v, 128), Show = o => o.ReplicaName ?? "(host:port)",
        },
        new()
        {
            Name = "sampling-defaults", Kind = OptionKind.Value, ValueName = "MODE",
            Help = "sampling fields a request omits: model = the model's recommended values (generation_config.json, else genai_config search), neutral = OpenAI's defaults",
            DefaultText = "model",
            Apply = (o, v) => o.ModelSamplingDefaults = v switch
            {
                "model" => true,
                "neutral" => false,
                _ => throw new OptionValueException("must be model or neutral"),
            },
            Show = o => o.ModelSamplingDefaults ? "model" : "neutral",
        },
        new()
        {
            Name = "max-request-bytes", Kind = OptionKind.Value, ValueName = "BYTES", Help = "largest request body, e.g. 16M; larger ones get 413",
            DefaultText = "8M",
            Apply = (o, v) => o.MaxRequestBytes = ServeOption.ParseBytes(v, 1024, int.MaxValue), Show = o => ServeOption.FormatBytes(o.MaxRequestBytes),
        },
        new()
        {
            Name = "reasoning-format", Kind = OptionKind.Value, ValueName = "FORMAT",
            Help = "chat completions of a model with <think>/</think> tokens: deepseek puts the thought in reasoning_content, none leaves it in content",
            DefaultText = "deepseek",
            Apply = (o, v) => o.ReasoningFormat = v.Trim().ToLowerInvariant() switch
            {
                "deepseek" => ReasoningFormat.DeepSeek,
                "none" => ReasoningFormat.None,
                _ => throw new OptionValueException("must be deepseek or none"),
            },
            Show = o => o.ReasoningFormat == ReasoningFormat.None ? "none" : "deepseek",
        },
        new()
        {
            Name = "tool-call-format", Kind = OptionKind.Value, ValueName = "FORMAT",
            Help = "how the model writes tool calls: auto (from its chat template and vocabulary), " + string.Join(", ", Engine.Text.ToolCallFormat.All.Select(f => f.Name)),
            DefaultText = "auto",
            Apply = (o, v) => o.ToolCallFormat = v.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) ? null
                : Engine.Text.ToolCallFormat.Find(v.Trim()) ?? throw new OptionValueException("must be auto or one of " + string.Join(", ", Engine.Text.ToolCallFormat.All.Select(f => f.Name))),
            Show = o => o.ToolCallFormat?.Name ?? "auto",
        },
        new()
        {
            Name = "api-key", Kind = OptionKind.List, ValueName = "KEY", Secret = true,
            Help = "require this key (Authorization: Bearer KEY or api-key: KEY); repeatable", DefaultText = "none: no authentication",
            Apply = (o, v) => o.ApiKeys.Add(ServeOption.NonEmpty(v)), Clear = o => o.ApiKeys.Clear(), Show = o => List(o.ApiKeys, secret: true),
        },
        new()
        {
            Name = "api-key-file", Kind = OptionKind.Value, ValueName = "FILE", Help = "require one of the keys in FILE (one per line)",
            DefaultText = "none",
            Apply = (o, v) => o.ApiKeyFile = ServeOption.NonEmpty(v), Show = o => o.ApiKeyFile ?? "(none)",
        },
        new()
        {
            Name = "metrics-require-key", Kind = OptionKind.Switch, Help = "GET /metrics needs a key too (otherwise open, like /health)",
            DefaultText = "off",
            Apply = (o, v) => o.MetricsRequireKey = ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(o.MetricsRequireKey),
        },
        new()
        {
            Name = "cors-origin", Kind = OptionKind.List, ValueName = "ORIGIN", Help = "allow browser calls from ORIGIN (or *); repeatable",
            DefaultText = "none: CORS off",
            Apply = (o, v) => o.CorsOrigins.Add(ServeOption.NonEmpty(v)), Clear = o => o.CorsOrigins.Clear(), Show = o => List(o.CorsOrigins, secret: false),
        },
        new()
        {
            Name = "drain-timeout", Kind = OptionKind.Value, ValueName = "SECONDS",
            Help = "on SIGTERM/SIGINT, how long running requests may finish before they are cancelled", DefaultText = "30",
            Apply = (o, v) => o.DrainTimeout = ServeOption.ParseSeconds(v, 86400), Show = o => ServeOption.FormatSeconds(o.DrainTimeout),
        },
        new()
        {
            Name = "log-format", Kind = OptionKind.Value, ValueName = "text|json", Help = "log lines as text or one JSON object per line",
            DefaultText = "text",
            Apply = (o, v) => o.LogFormat = v.Trim().ToLowerInvariant() switch
            {
                "text" => LogFormat.Text,
                "json" => LogFormat.Json,
                _ => throw new OptionValueException("must be text or json"),
            },
            Show = o => o.LogFormat == LogFormat.Json ? "json" : "text",
        },
        new()
        {
            Name = "log-prompts", Kind = OptionKind.Switch, Help = "put the prompt text (first 2 KB) in each request's log line",
            DefaultText = "off",
            Apply = (o, v) => o.LogPrompts = ServeOption.ParseBool(v), Show = o => ServeOption.FormatBool(o.LogPrompts),
        },
    ];

    /// <summary>The option spelled <paramref name="flag"/> (<c>--max-batch-size</c>), or null.</summary>
    public static ServeOption? ByFlag(string flag)
    {
        if (!flag.StartsWith("--", StringComparison.Ordinal)) return null;
        foreach (var o in All)
            if (flag.AsSpan(2).SequenceEqual(o.Name)) return o;
        return null;
    }

    /// <summary>The option a config file key names, kebab (<c>max-batch-size</c>) or snake case (<c>max_batch_size</c>).</summary>
    public static ServeOption? ByFileKey(string key)
    {
        foreach (var o in All)
            if (o.InFile && (key == o.Name || key == o.SnakeName)) return o;
        return null;
    }

    public static ServeOption? ByEnvName(string name)
    {
        foreach (var o in All)
            if (name == o.EnvName) return o;
        return null;
    }

    public static int IndexOf(ServeOption option) => Array.IndexOf(All, option);

    /// <summary><c>serve --help</c>: every option with its default, then how files and the environment set them.</summary>
    public static string RenderHelp()
    {
        const int column = 32, width = 118;
        var text = new StringBuilder(4096);
        text.Append("onnxlm serve [options]          serve a model over the OpenAI HTTP API\n\n");
        foreach (var o in All)
        {
            string head = "  " + o.Flag + (o.ValueName.Length > 0 ? " " + o.ValueName : "");
            text.Append(head);
            int at = head.Length;
            if (at >= column)
            {
                text.Append('\n');
                at = 0;
            }
            text.Append(' ', column - at);
            at = column;
            foreach (string word in (o.Help + " (default: " + o.DefaultText + ")").Split(' '))
            {
                if (at > column && at + 1 + word.Length > width)
                {
                    text.Append('\n').Append(' ', column + 2);
                    at = column + 2;
                }
                else if (at > column)
                {
                    text.Append(' ');
                    at++;
                }
                text.Append(word);
                at += word.Length;
            }
            text.Append('\n');
        }
        text.Append("""

              Every option can also be set in the config file (keys like the flag without "--", or in snake_case;
              switches take true/false, repeatable options an array) and by environment variables ONNXLM_<NAME>
              (e.g. ONNXLM_MAX_BATCH_SIZE=8, ONNXLM_NO_PREFIX_CACHE=1; repeatable options comma-separated).
              Precedence: command line > environment > config file > defaults; a repeatable option comes whole from
              the highest source that sets it. 'onnxlm config show' prints the effective values and their sources.

            """);
        return text.ToString();
    }
}
