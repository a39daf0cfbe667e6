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
/// then disposes the engine.
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

    OnnxLmServer(WebApplication app, InferenceEngine engine, Uri baseAddress, ILogger log, StrongBox<long> rateLimited)
    {
        this.app = app;
        this.rateLimited = rateLimited;
        Engine = engine;
        BaseAddress = baseAddress;
        this.log = log;
    }

    /// <summary>Where the server listens, e.g. <c>http://127.0.0.1:41873/</c> (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; }

    public InferenceEngine Engine { get; }

    /// <summary>How many 429 answers (queue full) this server has sent: lets tests see that clients retried.</summary>
    public long RateLimitedResponses => Interlocked.Read(ref rateLimited.Value);

    /// <summary>Loads the model, starts the engine and starts listening.</summary>
    /// <param name="loggerProvider">Where logs go; null = single-line console logging (the CLI's).</param>
    /// <exception cref="ServerStartException">The model, the options or the address cannot be used.</exception>
    public static async Task<OnnxLmServer> StartAsync(ServeOptions options, ILoggerProvider? loggerProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
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
            k.Limits.MaxRequestBodySize = OpenAiEndpoints.MaxRequestBytes;
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("onnxlm");
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
            engine = StartEngine(options, log);
            OpenAiEndpoints.Map(app, engine);
            try
            {
                await app.StartAsync();
            }
            catch (IOException e)
            {
                throw new ServerStartException($"cannot listen on {options.Host}:{options.Port}: {e.Message}", e);
            }
            var baseAddress = ListeningAddress(app) ?? new Uri($"http://{options.Host}:{options.Port}/");
            log.LogInformation("listening on {Address}", baseAddress);
            return new OnnxLmServer(app, engine, baseAddress, log, rateLimited);
        }
        catch
        {
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
            });
            var c = engine.Contract.Config;
            log.LogInformation("loaded model {Model} from {Dir} in {Ms} ms: {Layers} layers, {Heads}/{KvHeads} heads, vocab {Vocab}, context {Context}, KV {KvType}, {Slots} slots",
                engine.ModelId, engine.Contract.Directory, started.ElapsedMilliseconds, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize,
                engine.ContextLength, engine.Contract.KvType, engine.MaxBatchSize);
            if (engine.Cache is { } cache)
                log.LogInformation("prefix cache: {Blocks} blocks of {BlockSize} tokens ({Mb} MiB, {Bits}-bit storage)",
                    cache.Capacity, cache.BlockSize, cache.MemoryBytes >> 20, cache.Layout.Bits);
            else log.LogInformation("prefix cache: off");
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
