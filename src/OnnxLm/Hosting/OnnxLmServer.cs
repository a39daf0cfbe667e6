using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxLm.Engine;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Http;
using OnnxLm.Hub;

namespace OnnxLm.Hosting;

/// <summary>
/// One running server: an <see cref="InferenceEngine"/> and Kestrel bound to one address (port 0 picks a free port, see
/// <see cref="BaseAddress"/>). Used by <c>onnxlm serve</c> and by tests, which start real servers in-process.
/// Invariant: the engine outlives every request handler. Kestrel listens before the model loads, so probes can see
/// "loading"; the server is ready (and <see cref="StartAsync(ServeOptions, ILoggerProvider?)"/> returns) only after the
/// engine's warm-up run. Stopping drains: Kestrel keeps listening so new work gets 503 + Retry-After while running
/// requests get <see cref="ServeOptions.DrainTimeout"/> to finish; then the rest are cancelled, Kestrel stops (handlers
/// get <see cref="WriteOutTimeout"/> to write their last bytes) and the engine is disposed, which persists its RAM KV
/// blocks to the SSD tier and flushes the tier's index.
/// </summary>
public sealed class OnnxLmServer : IAsyncDisposable
{
    /// <summary>After the drain, how long handlers may take to write out what the engine produced before their connections
    /// are aborted (their generation is already over: this is only the network).</summary>
    public static readonly TimeSpan WriteOutTimeout = TimeSpan.FromSeconds(5);

    readonly WebApplication app;
    readonly ILogger log;
    readonly StrongBox<long> rateLimited;
    readonly SemaphoreSlim stopGate = new(1, 1);
    readonly TimeSpan drainTimeout;
    bool stopped;

    OnnxLmServer(WebApplication app, InferenceEngine engine, Uri baseAddress, ILogger log, ServingState state, StrongBox<long> rateLimited,
        TimeSpan drainTimeout)
    {
        this.drainTimeout = drainTimeout;
        this.app = app;
        State = state;
        this.rateLimited = rateLimited;
        Engine = engine;
        BaseAddress = baseAddress;
        this.log = log;
    }

    /// <summary>Where the server listens, e.g. <c>http://127.0.0.1:41873/</c> (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; }

    public InferenceEngine Engine { get; }

    /// <summary>What the HTTP handlers share (metrics, draining flag); tests reach in here.</summary>
    internal ServingState State { get; }

    /// <summary>How many 429 answers (queue full) this server has sent: lets tests see that clients retried.</summary>
    public long RateLimitedResponses => Interlocked.Read(ref rateLimited.Value);

    /// <summary>Starts listening, loads the model, starts the engine and waits for its warm-up run. While the model loads,
    /// /livez answers and /readyz and the completion endpoints answer 503; the returned server is ready.</summary>
    /// <param name="loggerProvider">Where logs go; null = console logging in <see cref="ServeOptions.LogFormat"/> (the
    /// CLI's), with the per-request lines on stdout.</param>
    /// <exception cref="ServerStartException">The model, the options or the address cannot be used.</exception>
    public static Task<OnnxLmServer> StartAsync(ServeOptions options, ILoggerProvider? loggerProvider = null) =>
        StartAsync(options, loggerProvider, whileLoading: null);

    /// <param name="whileLoading">Test hook: runs after Kestrel listens and before the engine loads.</param>
    /// <param name="requestLog">Where the per-request lines go (default: stdout for the CLI, nowhere with a logger provider).</param>
    /// <param name="progress">Start-up stages for an interactive terminal.</param>
    /// <param name="starting">Cancels a start that is still finding or pulling its model (the first SIGINT/SIGTERM):
    /// the start then throws <see cref="OperationCanceledException"/>; a pull's partial files stay for the next try.</param>
    internal static async Task<OnnxLmServer> StartAsync(ServeOptions options, ILoggerProvider? loggerProvider, Func<Uri, Task>? whileLoading,
        Stream? requestLog = null, LoadProgress? progress = null, CancellationToken starting = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ApiKeySet keys;
        try
        {
            keys = ApiKeySet.Create(options.ApiKeys, options.ApiKeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException($"cannot read the API key file: {e.Message}", e);
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerProvider is null && options.LogFormat == LogFormat.Json)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };   // one object per line
            });
        }
        else if (loggerProvider is null)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }
        else builder.Logging.AddProvider(loggerProvider);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime>(new ExternalLifetime());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = WriteOutTimeout);
        var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("onnxlm");
        requestLog ??= loggerProvider is null ? Console.OpenStandardOutput() : null;
        var endpoints = new EndpointOptions
        {
            ServedModelName = options.ServedModelName,
            ReasoningFormat = options.ReasoningFormat,
            ToolCallFormat = options.ToolCallFormat,
            MaxRequestBytes = options.MaxRequestBytes,
            MetricsRequireKey = options.MetricsRequireKey,
            LogPrompts = options.LogPrompts,
            CorsOrigins = [.. options.CorsOrigins],
        };
        var state = new ServingState(endpoints, keys, log,
            requestLog is null ? RequestLog.Null : new RequestLog(options.LogFormat == LogFormat.Json, requestLog));
        InferenceEngine? engine = null;
        var rateLimited = new StrongBox<long>();
        // Set once listening (the port may be 0 until then); every response names the replica that answered it.
        string replica = options.ReplicaName ?? $"{options.Host}:{options.Port}";
        // Outermost, so it sees the final status of every request; the log entry is the request's one extra object.
        app.Use(async (HttpContext http, RequestDelegate next) =>
        {
            http.Response.Headers["X-Onnxlm-Replica"] = replica;
            var entry = IsLogged(http.Request) ? new RequestLogEntry(http.Request.Path.Value ?? "", Stopwatch.GetTimestamp()) : null;
            if (entry is not null)
            {
                http.Features.Set(entry);
                state.RequestStarted();
            }
            try
            {
                await next(http);
            }
            finally
            {
                if (http.Response.StatusCode == StatusCodes.Status429TooManyRequests) Interlocked.Increment(ref rateLimited.Value);
                if (entry is not null)
                {
                    state.RequestEnded();
                    entry.Status = http.Response.StatusCode;
                    entry.End = Stopwatch.GetTimestamp();
                    state.Requests.Write(entry, http.TraceIdentifier);
                }
            }
        });
        try
        {
            OpenAiEndpoints.Map(app, state);
            try
            {
                // Listening before the (possibly slow) load lets probes tell "loading" (503 on /readyz) from "dead".
                await app.StartAsync(CancellationToken.None);
            }
            catch (IOException e)
            {
                throw new ServerStartException($"cannot listen on {options.Host}:{options.Port}: {e.Message}", e);
            }
            var baseAddress = ListeningAddress(app) ?? new Uri($"http://{options.Host}:{options.Port}/");
            // A wildcard address names no machine: replicas listening on 0.0.0.0 would all be "0.0.0.0:8000".
            bool wildcard = IPAddress.TryParse(baseAddress.Host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any));
            replica = options.ReplicaName ?? $"{(wildcard ? Environment.MachineName : baseAddress.Host)}:{baseAddress.Port}";
            state.Requests.Replica = replica;
            log.LogInformation("listening on {Address} as replica {Replica}", baseAddress, replica);
            if (options.ConfigFile is { } configFile) log.LogInformation("options from {File} (and ONNXLM_* variables, the command line)", configFile);
            if (keys.IsEnabled) log.LogInformation("API keys required: {Count} accepted", keys.Count);
            if (whileLoading is not null) await whileLoading(baseAddress);
            var started = Stopwatch.StartNew();
            string? modelDir = options.Model is { } model ? await ResolveModelAsync(model, options.Offline, log, progress, starting) : null;
            // A repository is served under its own name (ORG/NAME), not the name of a snapshot folder.
            if (options.ServedModelName is null && options.Model is { } m && HubModelRef.TryParse(m, out var hubModel))
                state.ServeAs(hubModel.Repo);
            engine = StartEngine(options, modelDir, log, progress);
            long loadMs = started.ElapsedMilliseconds;
            state.EngineStarted(engine);
            // The engine's first run (kernel set-up, first-touch page faults) is done before anyone is told "ready".
            progress?.Stage("warming up");
            while (!engine.IsReady) await Task.Delay(5, CancellationToken.None);   // a load is not cancellable: a signal now drains once ready
            string detail = $"serving model '{state.ModelName}' on {baseAddress}";
            progress?.Ready(detail);
            log.LogInformation("ready in {Ms} ms (load {LoadMs} ms, warm-up {WarmMs} ms): {Detail}",
                started.ElapsedMilliseconds, loadMs, started.ElapsedMilliseconds - loadMs, detail);
            return new OnnxLmServer(app, engine, baseAddress, log, state, rateLimited, options.DrainTimeout);
        }
        catch
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            engine?.Dispose();
            throw;
        }
    }

    /// <summary>Probes and scrapes are neither logged per request (they would drown the lines that matter) nor waited
    /// for by a drain.</summary>
    static bool IsLogged(HttpRequest request)
    {
        if (HttpMethods.IsOptions(request.Method)) return false;
        var path = request.Path;
        return !(path.Equals("/health") || path.Equals("/livez") || path.Equals("/readyz") || path.Equals("/metrics"));
    }

    /// <summary>A folder path as it is (a cache snapshot through its hard-link view), a Hub reference from the cache,
    /// pulled first when missing and not offline (see <see cref="ModelSource"/>).</summary>
    static async Task<string> ResolveModelAsync(string model, bool offline, ILogger log, LoadProgress? progress, CancellationToken ct)
    {
        if (HubModelRef.TryParse(model, out _)) progress?.Stage($"finding model {model}");
        try
        {
            return await ModelSource.ResolveAsync(model, offline, null, null, message => log.LogInformation("{Message}", message), ct);
        }
        catch (HubException e)
        {
            throw new ServerStartException($"cannot serve {model}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException($"cannot prepare {model}: {e.Message}", e);
        }
    }

    static InferenceEngine StartEngine(ServeOptions options, string? resolvedModel, ILogger log, LoadProgress? progress)
    {
        string modelDir = resolvedModel ?? "(built-in test model)";
        try
        {
            if (resolvedModel is null) progress?.Stage("preparing the built-in test model");
            modelDir = resolvedModel ?? BuiltInModel.Ensure(log);
            // One stage: reading and checking the graph, creating the session and allocating the KV rows and blocks.
            progress?.Stage($"loading model {modelDir}");
            var started = Stopwatch.StartNew();
            var engine = InferenceEngine.Start(new EngineOptions
            {
                ModelDirectory = modelDir,
                MaxBatchSize = options.MaxBatchSize,
                PrefillStepSize = options.PrefillStepSize,
                DecodePrefillTokens = options.DecodePrefillTokens,
                MaxQueue = options.MaxQueue,
                ContextLength = options.ContextLength,
                Threads = options.Threads,
                PrefixCache = options.PrefixCache,
                HugePages = options.HugePages,
                BlockSize = options.BlockSize,
                KvCacheMemory = options.KvCacheMemory,
                MemoryBudget = options.MemoryBudget,
                KvBits = options.KvBits,
                KvGroupSize = options.KvGroupSize,
                SsdCache = options.SsdCache,
                KvCacheDir = options.KvCacheDir,
                SsdWriteThrough = options.SsdWriteThrough,
                SsdTtlDays = options.SsdTtlDays,
                SsdMaxBytes = options.SsdMaxBytes,
                RemoteKv = options.RemoteKv,
                RemoteKvAlwaysFetch = options.RemoteKvAlwaysFetch,
                ChatTemplate = options.ChatTemplate,
                ModelSamplingDefaults = options.ModelSamplingDefaults,
                Log = message => log.LogInformation("{Message}", message),
            });
            var c = engine.Contract.Config;
            log.LogInformation("loaded model {Model} from {Dir} in {Ms} ms: {Layers} layers, {Heads}/{KvHeads} heads, vocab {Vocab}, context {Context}, KV {KvType}, {Slots} slots",
                engine.ModelId, engine.Contract.Directory, started.ElapsedMilliseconds, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize,
                engine.ContextLength, engine.Contract.KvType, engine.MaxBatchSize);
            var template = engine.Prompts.ChatTemplate;
            if (template.Template is null)
                log.LogWarning("chat template: none (the model folder has no chat_template in tokenizer_config.json and no chat_template.jinja); /v1/chat/completions answers 400, /v1/completions works; --chat-template FILE supplies one");
            else
                log.LogInformation("chat template: from {Origin}", template.Origin);
            log.LogInformation("sampling defaults for omitted fields: {Defaults}", engine.SamplingDefaults);
            log.LogInformation("text prompts (/v1/completions) start with {Bos}",
                engine.Prompts.TextBosTokenId >= 0 ? $"BOS (id {engine.Prompts.TextBosTokenId})" : "no BOS (the tokenizer adds none)");
            log.LogInformation("{Memory}", engine.Memory.Describe());
            if (engine.Cache is { } cache)
                log.LogInformation("prefix cache: up to {Blocks} blocks of {BlockSize} tokens ({Mb} MiB reserved, committed as blocks fill; {Bits}-bit storage)",
                    cache.Capacity, cache.BlockSize, cache.MemoryBytes >> 20, cache.Layout.Bits);
            else log.LogInformation("prefix cache: off");
            if (engine.Ssd is { } ssd)
                log.LogInformation("SSD KV tier: {Mode} at {Dir}, cap {Mb} MiB{Reason}", ssd.Mode, ssd.Directory, ssd.MaxBytes >> 20,
                    string.IsNullOrEmpty(ssd.ModeReason) ? "" : " (" + ssd.ModeReason + ")");
            else log.LogInformation("SSD KV tier: off");
            if (options.RemoteKv is not null && engine.Remote is null)
                log.LogWarning("remote KV tier: off (--remote-kv needs the prefix cache, and --no-prefix-cache is set)");
            return engine;
        }
        catch (ModelFormatException e)
        {
            throw new ServerStartException($"cannot serve {modelDir}: {e.Message}", e);
        }
        catch (Exception e) when (e is OnnxRuntimeException or OnnxRuntimeGenAIException)
        {
            // The contract checks passed but ONNX Runtime refused the graph or the session options.
            throw new ServerStartException($"cannot serve {modelDir}: ONNX Runtime: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw new ServerStartException(e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException($"cannot prepare {modelDir}: {e.Message}", e);
        }
    }

    static Uri? ListeningAddress(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null) return null;
        foreach (var a in addresses)
            if (Uri.TryCreate(a.EndsWith('/') ? a : a + "/", UriKind.Absolute, out var uri)) return uri;
        return null;
    }

    /// <summary>Drains and stops: new work gets 503 + Retry-After (Kestrel keeps listening meanwhile), running requests get
    /// <see cref="ServeOptions.DrainTimeout"/> to finish, the rest are cancelled, then Kestrel stops and the engine is
    /// disposed (persisting its KV blocks to the SSD tier). Safe to call more than once.</summary>
    public async Task StopAsync()
    {
        await stopGate.WaitAsync();
        try
        {
            if (stopped) return;
            stopped = true;
            var started = Stopwatch.StartNew();
            State.BeginDraining();
            Engine.StopAccepting();
            log.LogInformation("draining: {Running} requests running, waiting up to {Seconds} s for them", State.InFlight, drainTimeout.TotalSeconds);
            // Handlers are counted rather than engine sequences: a response is done when its last byte is written, and
            // a sequence in its first prefill step is not yet counted by the engine.
            if (!await State.WaitForNoRequestsAsync(drainTimeout))
            {
                log.LogWarning("drain timeout after {Seconds} s: cancelling {Running} requests", drainTimeout.TotalSeconds, State.InFlight);
                Engine.CancelAll();
                // Cancellation takes effect at the engine's next step; the handlers then end their responses.
                await State.WaitForNoRequestsAsync(WriteOutTimeout);
            }
            await app.StopAsync();
            Engine.Dispose();
            log.LogInformation("stopped after {Ms} ms of draining", started.ElapsedMilliseconds);
            await app.DisposeAsync();
        }
        finally
        {
            stopGate.Release();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
