using System.Text.Json;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Http;

/// <summary>
/// What every handler shares: the options, the keys, the metrics and the engine's lifecycle. Invariant: the server is
/// ready exactly when <see cref="Engine"/> is set and warmed up (its first run done) and neither the server is draining
/// nor the engine stopping; completion
/// endpoints answer 503 with Retry-After otherwise, while /livez keeps answering 200.
/// </summary>
internal sealed class ServingState(EndpointOptions options, ApiKeySet keys, ILogger log, RequestLog requests)
{
    InferenceEngine? engine;
    byte[] modelNameUtf8 = [];
    volatile bool draining;

    public EndpointOptions Options { get; } = options;
    public ApiKeySet Keys { get; } = keys;
    public CorsPolicy Cors { get; } = new(options.CorsOrigins);
    public ServerMetrics Metrics { get; } = new();
    public ILogger Log { get; } = log;
    /// <summary>The one-line-per-request log.</summary>
    public RequestLog Requests { get; } = requests;
    public long CreatedAt { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The model id clients see (set with the engine).</summary>
    public string ModelName { get; private set; } = options.ServedModelName ?? "";
    public JsonEncodedText ModelNameJson { get; private set; }

    /// <summary>The tags chat completions split reasoning on: null for a model without them or with --reasoning-format none.</summary>
    public ReasoningTags? Reasoning { get; private set; }

    /// <summary>Null while the model loads.</summary>
    public InferenceEngine? Engine => Volatile.Read(ref engine);

    public bool IsDraining => draining;

    int inFlight;

    /// <summary>Requests inside the handlers now (probes and scrapes not counted): a drain waits for this to reach 0,
    /// which covers a request from its body's first byte to its response's last, engine work included.</summary>
    public int InFlight => Volatile.Read(ref inFlight);

    public void RequestStarted() => Interlocked.Increment(ref inFlight);

    public void RequestEnded() => Interlocked.Decrement(ref inFlight);

    /// <summary>Waits until <see cref="InFlight"/> is 0 or <paramref name="timeout"/> passes; true when none is left.</summary>
    public async Task<bool> WaitForNoRequestsAsync(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (InFlight > 0)
        {
            if (Environment.TickCount64 >= deadline) return false;
            await Task.Delay(10);
        }
        return true;
    }

    public bool IsReady => Engine is { IsStopping: false, IsReady: true } && !draining;

    /// <summary>"ok", "loading" (no engine or not warmed up yet) or "draining", as the probes report it.</summary>
    public string Status => IsReady ? "ok" : draining || Engine is { IsStopping: true } ? "draining" : "loading";

    /// <summary>Admission under memory pressure (null when the machine gives no memory figure). Tests replace it with
    /// one over a scripted probe.</summary>
    public MemoryPressure? Memory { get; set; }

    /// <summary>503 + Retry-After when the machine's available memory is below the reserve (checked at most every 250 ms).</summary>
    public void CheckMemory()
    {
        if (Memory is not { } gate || !gate.IsShort()) return;
        throw new ApiError(503,
            $"The server is short of memory ({gate.LastAvailableBytes >> 20} MiB available, below the {gate.MinAvailableBytes >> 20} MiB it keeps free). Retry shortly.",
            "server_error", null, MemoryPressureCode)
        { RetryAfter = 5 };
    }

    public const string MemoryPressureCode = "memory_pressure";

    string? repositoryName;

    /// <summary>The model id when no --served-model-name is given, instead of the folder's name (a Hub repository's ORG/NAME).</summary>
    public void ServeAs(string name) => repositoryName = name;

    public void EngineStarted(InferenceEngine started)
    {
        // Half the reserve: the default plan fills the budget (available minus the reserve), so at full planned load the
        // machine sits at the reserve itself, and ORT's own buffers can take it a little lower. Refusing there would turn
        // away the load the server was sized for; below half the reserve the machine really is short.
        if (started.Memory.ReserveBytes > 0) Memory ??= new MemoryPressure(SystemMemory.Instance, started.Memory.ReserveBytes / 2);
        ModelName = Options.ServedModelName ?? repositoryName ?? started.ModelId;
        ModelNameJson = JsonEncodedText.Encode(ModelName);
        modelNameUtf8 = System.Text.Encoding.UTF8.GetBytes(ModelName);
        if (ReasoningTags.Find(started.Vocabulary, started.Contract.Config.VocabSize) is { } tags)
        {
            if (Options.ReasoningFormat == ReasoningFormat.DeepSeek)
            {
                Reasoning = tags;
                Log.LogInformation("reasoning: <think> {Open} / </think> {Close}: chat completions return the thought as reasoning_content", tags.Open, tags.Close);
            }
            else Log.LogInformation("reasoning: --reasoning-format none: <think>/</think> stay in content");
        }
        detectedToolFormat = null;   // a new engine may serve another model
        var tools = ToolFormat(started);
        Log.LogInformation("tool calls: {Format} format ({Source})", tools.Name, Options.ToolCallFormat is null ? "detected from the chat template and vocabulary" : "--tool-call-format");
        Volatile.Write(ref engine, started);
    }

    ToolCallFormat? detectedToolFormat;

    /// <summary>The tool-call format for <paramref name="started"/>: <c>--tool-call-format</c>, else detected once.</summary>
    public ToolCallFormat ToolFormat(InferenceEngine started) =>
        Options.ToolCallFormat ?? LazyInitializer.EnsureInitialized(ref detectedToolFormat,
            () => ToolCallFormat.Detect(started.Prompts.ChatTemplate.Template, started.Vocabulary));

    /// <summary>From now on new work gets 503 (in-flight requests run to their end).</summary>
    public void BeginDraining() => draining = true;

    /// <summary>The engine when ready; otherwise the 503 to answer.</summary>
    public InferenceEngine RequireReady()
    {
        var e = Engine;
        if (e is null || !e.IsReady) throw Unavailable("The model is still loading. Retry shortly.");
        if (draining || e.IsStopping) throw Unavailable("The server is shutting down. Retry shortly.");
        return e;
    }

    public static ApiError Unavailable(string message) => new(503, message, "server_error", null, "unavailable") { RetryAfter = 5 };

    /// <summary>404 model_not_found unless <paramref name="model"/> (UTF-8, unescaped) is absent or the served name.</summary>
    public void CheckModel(ReadOnlySpan<byte> json, Parsing.Utf8Slice model)
    {
        if (!model.HasValue || model.ValueEquals(json, modelNameUtf8)) return;
        string name = model.GetString(json);
        throw new ApiError(404, $"The model '{name}' does not exist; this server serves '{ModelName}'.", "invalid_request_error", "model", "model_not_found");
    }
}
