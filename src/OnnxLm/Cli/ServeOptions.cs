using System.Net;

namespace OnnxLm.Cli;

/// <summary>Options of <c>onnxlm serve</c>.</summary>
public sealed class ServeOptions
{
    public string? Model { get; set; }
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 8000;
    public int MaxBatchSize { get; set; } = 8;
    public int PrefillStepSize { get; set; } = 512;
    public int MaxQueue { get; set; } = 128;
    public int? ContextLength { get; set; }
    public int Threads { get; set; }
    public bool PrefixCache { get; set; } = true;
    public int BlockSize { get; set; } = 16;
    public long? KvCacheMemory { get; set; }
    public int KvBits { get; set; }
    public int KvGroupSize { get; set; } = 64;
    public bool SsdCache { get; set; } = true;
    public string? KvCacheDir { get; set; }
    public bool SsdWriteThrough { get; set; }
    public int SsdTtlDays { get; set; } = 7;
    public long? SsdMaxBytes { get; set; }
    /// <summary>The model id clients see and must send; null = the model folder's name.</summary>
    public string? ServedModelName { get; set; }
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

    public const long DefaultMaxRequestBytes = 8L << 20;

    public const string Help = """
        onnxlm serve [options]          serve a model over the OpenAI HTTP API

          --model DIR                   ONNX Runtime GenAI model folder (genai_config.json, model.onnx, tokenizer.json,
                                        tokenizer_config.json). Default: a built-in random-weight test model.
          --host ADDR                   address to bind (default 127.0.0.1)
          --port N                      port (default 8000)
          --max-batch-size N            sequences decoded together (default 8)
          --prefill-step-size N         prompt tokens per prefill chunk (default 512)
          --max-queue N                 requests waiting for a slot before 429 (default 128)
          --context-length N            tokens per sequence (default: the model's context length)
          --threads N                   ONNX Runtime threads (default: one per core)
          --no-prefix-cache             do not reuse the KV of earlier prompts (block cache and row reuse)
          --block-size N                tokens per cached KV block (default 16)
          --kv-cache-memory BYTES       block pool size, e.g. 2G or 512M (default: a fifth of RAM, at most 8G)
          --kv-bits 8|16|32             block storage: the model's own KV type (default, lossless) or 8 (int8, lossy)
          --kv-group-size N             values per int8 scale (default 64)
          --no-ssd-cache                do not keep evicted KV blocks on disk
          --kv-cache-dir DIR            SSD tier root (default: ~/Library/Caches/onnxlm/kv on macOS,
                                        $XDG_CACHE_HOME/onnxlm/kv or ~/.cache/onnxlm/kv on Linux)
          --ssd-write-through           write every committed block to disk, not only evicted ones
          --ssd-ttl-days N              prune blocks unused for N days (default 7)
          --ssd-max-bytes BYTES         cap of the SSD tier (default: a quarter of the free disk space)
          --served-model-name NAME      model id clients see and send (default: the model folder's name)
          --max-request-bytes BYTES     largest request body, e.g. 16M (default 8M); larger ones get 413
          --api-key KEY                 require this key (Authorization: Bearer KEY or api-key: KEY); repeatable
          --api-key-file FILE           require one of the keys in FILE (one per line)
          --metrics-require-key         GET /metrics needs a key too (default: open, like /health)
          --cors-origin ORIGIN          allow browser calls from ORIGIN (or *); repeatable. Default: CORS off
        """;

    public static ServeOptions Parse(string[] args, int start)
    {
        var o = new ServeOptions();
        var r = new ArgReader(args, start);
        while (r.Next(out string flag, out string? v))
        {
            switch (flag)
            {
                case "--model": o.Model = r.Value(flag, v); break;
                case "--host": o.Host = r.Value(flag, v); break;
                case "--port": o.Port = r.Int(flag, v, 0, 65535); break;
                case "--max-batch-size": o.MaxBatchSize = r.Int(flag, v, 1, 256); break;
                case "--prefill-step-size": o.PrefillStepSize = r.Int(flag, v, 1, 65536); break;
                case "--max-queue": o.MaxQueue = r.Int(flag, v, 1, 1_000_000); break;
                case "--context-length": o.ContextLength = r.Int(flag, v, 2, 1 << 24); break;
                case "--threads": o.Threads = r.Int(flag, v, 0, 1024); break;
                case "--no-prefix-cache": o.PrefixCache = false; break;
                case "--block-size": o.BlockSize = r.Int(flag, v, 1, 1024); break;
                case "--kv-cache-memory": o.KvCacheMemory = r.Bytes(flag, v); break;
                case "--kv-bits":
                    o.KvBits = r.Int(flag, v, 8, 32);
                    if (o.KvBits is not (8 or 16 or 32)) throw new UsageException($"--kv-bits must be 8, 16 or 32 (got {o.KvBits})");
                    break;
                case "--kv-group-size": o.KvGroupSize = r.Int(flag, v, 1, 65536); break;
                case "--no-ssd-cache": o.SsdCache = false; break;
                case "--kv-cache-dir": o.KvCacheDir = r.Value(flag, v); break;
                case "--ssd-write-through": o.SsdWriteThrough = true; break;
                case "--ssd-ttl-days": o.SsdTtlDays = r.Int(flag, v, 1, 36500); break;
                case "--ssd-max-bytes": o.SsdMaxBytes = r.Bytes(flag, v); break;
                case "--served-model-name":
                    o.ServedModelName = r.Value(flag, v);
                    if (o.ServedModelName.Length is 0 or > 256) throw new UsageException("--served-model-name must be 1 to 256 characters");
                    break;
                case "--max-request-bytes":
                    o.MaxRequestBytes = r.Bytes(flag, v);
                    if (o.MaxRequestBytes is < 1024 or > int.MaxValue) throw new UsageException("--max-request-bytes must be between 1K and 2G");
                    break;
                case "--api-key":
                    string key = r.Value(flag, v);
                    if (key.Length == 0) throw new UsageException("--api-key must not be empty");
                    o.ApiKeys.Add(key);
                    break;
                case "--api-key-file": o.ApiKeyFile = r.Value(flag, v); break;
                case "--metrics-require-key": o.MetricsRequireKey = true; break;
                case "--cors-origin": o.CorsOrigins.Add(r.Value(flag, v)); break;
                default: throw new UsageException($"unknown option '{flag}' for serve (see onnxlm --help)");
            }
        }
        if (!IPAddress.TryParse(o.Host, out _) && o.Host != "localhost")
            throw new UsageException($"--host must be an IP address or localhost (got '{o.Host}')");
        return o;
    }
}
