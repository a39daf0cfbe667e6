using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxLm.Cli;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Http;

namespace OnnxLm.Hosting;

/// <summary>
/// One running server: an <see cref="InferenceEngine"/> and Kestrel bound to one address (port 0 picks a free port, see
/// <see cref="BaseAddress"/>). Used by <c>onnxlm serve</c> and by tests, which start real servers in-process.
/// Invariant: the engine outlives every request handler; stopping drains Kestrel first (in-flight requests get
/// <see cref="ShutdownTimeout"/> to finish, then their connections are aborted, which cancels their sequences) and only
/// then disposes the engine. Kestrel listens before the model loads, so probes can see "loading".
/// </summary>
public sealed class OnnxLmServer : IAsyncDisposable
{
    /// <summary>How long in-flight requests may run on after a stop is requested before their connections are aborted.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    readonly WebApplication app;
    readonly ILogger log;
    readonly StrongBox<long> rateLimited;
    readonly SemaphoreSlim stopGate = new(1, 1);
    bool stopped;

    OnnxLmServer(WebApplication app, InferenceEngine engine, Uri baseAddress, ILogger log, ServingState state, StrongBox<long> rateLimited)
    {
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

    /// <summary>Starts listening, loads the model and starts the engine. While the model loads, /livez answers and
    /// /readyz and the completion endpoints answer 503; the returned server is ready.</summary>
    /// <param name="loggerProvider">Where logs go; null = single-line console logging (the CLI's).</param>
    /// <exception cref="ServerStartException">The model, the options or the address cannot be used.</exception>
    public static Task<OnnxLmServer> StartAsync(ServeOptions options, ILoggerProvider? loggerProvider = null) =>
        StartAsync(options, loggerProvider, whileLoading: null);

    /// <param name="whileLoading">Test hook: runs after Kestrel listens and before the engine loads.</param>
    internal static async Task<OnnxLmServer> StartAsync(ServeOptions options, ILoggerProvider? loggerProvider, Func<Uri, Task>? whileLoading)
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
        if (loggerProvider is null)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
            });
        }
        else builder.Logging.AddProvider(loggerProvider);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime>(new ExternalLifetime());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("onnxlm");
        var state = new ServingState(options, keys, log);
        InferenceEngine? engine = null;
        var rateLimited = new StrongBox<long>();
        // Outermost, so it sees the final status of every request.
        app.Use(async (HttpContext http, RequestDelegate next) =>
        {
            await next(http);
            if (http.Response.StatusCode == StatusCodes.Status429TooManyRequests) Interlocked.Increment(ref rateLimited.Value);
        });
        try
        {
            OpenAiEndpoints.Map(app, state);
            try
            {
                // Listening before the (possibly slow) load lets probes tell "loading" (503 on /readyz) from "dead".
                await app.StartAsync();
            }
            catch (IOException e)
            {
                throw new ServerStartException($"cannot listen on {options.Host}:{options.Port}: {e.Message}", e);
            }
            var baseAddress = ListeningAddress(app) ?? new Uri($"http://{options.Host}:{options.Port}/");
            log.LogInformation("listening on {Address}", baseAddress);
            if (keys.IsEnabled) log.LogInformation("API keys required: {Count} accepted", keys.Count);
            if (whileLoading is not null) await whileLoading(baseAddress);
            engine = StartEngine(options, log);
            state.EngineStarted(engine);
            log.LogInformation("ready: serving model '{Model}'", state.ModelName);
            return new OnnxLmServer(app, engine, baseAddress, log, state, rateLimited);
        }
        catch
        {
            await app.StopAsync();
            await app.DisposeAsync();
            engine?.Dispose();
            throw;
        }
    }

    static InferenceEngine StartEngine(ServeOptions options, ILogger log)
    {
        string modelDir = options.Model ?? "(built-in test model)";
        try
        {
            modelDir = options.Model ?? BuiltInModel.Ensure(log);
            var started = System.Diagnostics.Stopwatch.StartNew();
            var engine = InferenceEngine.Start(new EngineOptions
            {
                ModelDirectory = modelDir,
                MaxBatchSize = options.MaxBatchSize,
                PrefillStepSize = options.PrefillStepSize,
                MaxQueue = options.MaxQueue,
                ContextLength = options.ContextLength,
                Threads = options.Threads,
                PrefixCache = options.PrefixCache,
                BlockSize = options.BlockSize,
                KvCacheMemory = options.KvCacheMemory,
                KvBits = options.KvBits,
                KvGroupSize = options.KvGroupSize,
                SsdCache = options.SsdCache,
                KvCacheDir = options.KvCacheDir,
                SsdWriteThrough = options.SsdWriteThrough,
                SsdTtlDays = options.SsdTtlDays,
                SsdMaxBytes = options.SsdMaxBytes,
                Log = message => log.LogInformation("{Message}", message),
            });
            var c = engine.Contract.Config;
            log.LogInformation("loaded model {Model} from {Dir} in {Ms} ms: {Layers} layers, {Heads}/{KvHeads} heads, vocab {Vocab}, context {Context}, KV {KvType}, {Slots} slots",
                engine.ModelId, engine.Contract.Directory, started.ElapsedMilliseconds, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize,
                engine.ContextLength, engine.Contract.KvType, engine.MaxBatchSize);
            if (engine.Cache is { } cache)
                log.LogInformation("prefix cache: up to {Blocks} blocks of {BlockSize} tokens ({Mb} MiB reserved, committed as blocks fill; {Bits}-bit storage)",
                    cache.Capacity, cache.BlockSize, cache.MemoryBytes >> 20, cache.Layout.Bits);
            else log.LogInformation("prefix cache: off");
            if (engine.Ssd is { } ssd)
                log.LogInformation("SSD KV tier: {Mode} at {Dir}, cap {Mb} MiB{Reason}", ssd.Mode, ssd.Directory, ssd.MaxBytes >> 20,
                    string.IsNullOrEmpty(ssd.ModeReason) ? "" : " (" + ssd.ModeReason + ")");
            else log.LogInformation("SSD KV tier: off");
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

    /// <summary>Stops listening, lets in-flight requests finish (up to <see cref="ShutdownTimeout"/>), then stops the
    /// engine. Safe to call more than once.</summary>
    public async Task StopAsync()
    {
        await stopGate.WaitAsync();
        try
        {
            if (stopped) return;
            stopped = true;
            log.LogInformation("stopping");
            // New work gets 503 (and /readyz says so) while Kestrel drains the requests already running.
            State.BeginDraining();
            await app.StopAsync();
            Engine.Dispose();
            log.LogInformation("stopped");
            await app.DisposeAsync();
        }
        finally
        {
            stopGate.Release();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
