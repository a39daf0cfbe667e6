using OnnxLm.Http;

namespace OnnxLm.Hosting;

/// <summary>
/// Options of <c>onnxlm serve</c>: what Hosting wires the server from. The command line, environment and config file
/// fill it (Cli's <c>ServeOptionTable</c> says how each is spelled, parsed and shown).
/// </summary>
public sealed class ServeOptions
{
    /// <summary>A model folder, or a Hub reference <c>ORG/NAME[:FOLDER][@REVISION]</c> (see <see cref="Hub.ModelSource"/>).</summary>
    public string? Model { get; set; }
    /// <summary>A Hub reference is served only from the cache (HF_HUB_OFFLINE=1 does the same).</summary>
    public bool Offline { get; set; }
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 8000;
    public int MaxBatchSize { get; set; } = 8;
    public int PrefillStepSize { get; set; } = 512;
    public int DecodePrefillTokens { get; set; }
    public int MaxQueue { get; set; } = 128;
    public int? ContextLength { get; set; }
    public int Threads { get; set; }
    public bool PrefixCache { get; set; } = true;
    public bool HugePages { get; set; } = true;
    public int BlockSize { get; set; } = 16;
    public long? KvCacheMemory { get; set; }
    /// <summary>Bytes for weights, prefix cache and KV at full load; null = what the machine can spare.</summary>
    public long? MemoryBudget { get; set; }
    public int KvBits { get; set; }
    public int KvGroupSize { get; set; } = 64;
    public bool SsdCache { get; set; } = true;
    public string? KvCacheDir { get; set; }
    public bool SsdWriteThrough { get; set; }
    public int SsdTtlDays { get; set; } = 7;
    public long? SsdMaxBytes { get; set; }
    /// <summary>The remote KV tier's Redis (<c>--remote-kv redis://HOST:PORT[?password=…&amp;db=N]</c>); null = off.</summary>
    public Engine.Cache.Remote.RedisEndpoint? RemoteKv { get; set; }
    /// <summary>Fetch remote blocks even when recomputing measures faster: tests on the tiny model only (no CLI option).</summary>
    public bool RemoteKvAlwaysFetch { get; set; }
    /// <summary>The model id clients see and must send; null = the model folder's name.</summary>
    public string? ServedModelName { get; set; }
    /// <summary>This replica's name in the X-Onnxlm-Replica header and the request log; null = host:port.</summary>
    public string? ReplicaName { get; set; }
    /// <summary>Omitted sampling fields take the model's recommended values (false: OpenAI's defaults).</summary>
    public bool ModelSamplingDefaults { get; set; } = true;
    /// <summary>A Jinja chat template file that replaces the model's own; null = the model's.</summary>
    public string? ChatTemplate { get; set; }
    /// <summary>Largest accepted request body; larger bodies get 413.</summary>
    public long MaxRequestBytes { get; set; } = DefaultMaxRequestBytes;
    /// <summary>Accepted API keys (empty and no <see cref="ApiKeyFile"/> = no authentication).</summary>
    public List<string> ApiKeys { get; } = [];
    /// <summary>A file with one API key per line (blank lines and lines starting with # are skipped).</summary>
    public string? ApiKeyFile { get; set; }
    /// <summary>Origins allowed by CORS ("*" = any); empty = CORS off.</summary>
    public List<string> CorsOrigins { get; } = [];
    /// <summary>GET /metrics needs an API key too (by default it is open, like /health).</summary>
    public bool MetricsRequireKey { get; set; }

    /// <summary>Split a reasoning model's thought into reasoning_content (the default) or keep it in content.</summary>
    public ReasoningFormat ReasoningFormat { get; set; }

    /// <summary>How the model writes tool calls; null = detected from its chat template and vocabulary.</summary>
    public Engine.Text.ToolCallFormat? ToolCallFormat { get; set; }

    /// <summary>After SIGTERM/SIGINT, how long running requests may go on before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
    public LogFormat LogFormat { get; set; }
    /// <summary>Put (the first 2 KB of) each prompt in its request log line. Off: prompt text is never logged.</summary>
    public bool LogPrompts { get; set; }
    /// <summary>The config file these options were read from (informational; null = none).</summary>
    public string? ConfigFile { get; set; }

    public const long DefaultMaxRequestBytes = 8L << 20;
}
