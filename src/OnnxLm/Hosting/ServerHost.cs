using System.Net;
using OnnxLm.Cli;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Http;

namespace OnnxLm.Hosting;

/// <summary>Starts the engine and the Kestrel server for <c>onnxlm serve</c>, and shuts both down on SIGTERM/SIGINT.</summary>
internal static class ServerHost
{
    public static async Task<int> RunAsync(ServeOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = OpenAiEndpoints.MaxRequestBytes;
            k.AddServerHeader = false;
            var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
            k.Listen(address, options.Port);
        });
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff "; }));
        var log = loggerFactory.CreateLogger("onnxlm");

        string modelDir = options.Model ?? BuiltInModel.Ensure(log);
        var started = System.Diagnostics.Stopwatch.StartNew();
        InferenceEngine engine;
        try
        {
            engine = InferenceEngine.Start(new EngineOptions
            {
                ModelDirectory = modelDir,
                MaxBatchSize = options.MaxBatchSize,
                PrefillStepSize = options.PrefillStepSize,
                MaxQueue = options.MaxQueue,
                ContextLength = options.ContextLength,
                Threads = options.Threads,
            });
        }
        catch (ModelFormatException e)
        {
            Console.Error.WriteLine($"onnxlm: cannot serve {modelDir}: {e.Message}");
            return 2;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"onnxlm: {e.Message}");
            return 2;
        }
        using (engine)
        {
            var c = engine.Contract.Config;
            log.LogInformation("loaded model {Model} from {Dir} in {Ms} ms: {Layers} layers, {Heads}/{KvHeads} heads, vocab {Vocab}, context {Context}, KV {KvType}, {Slots} slots",
                engine.ModelId, engine.Contract.Directory, started.ElapsedMilliseconds, c.NumLayers, c.NumHeads, c.NumKvHeads, c.VocabSize,
                engine.ContextLength, engine.Contract.KvType, engine.MaxBatchSize);
            var app = builder.Build();
            OpenAiEndpoints.Map(app, engine);
            try
            {
                await app.StartAsync();
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"onnxlm: cannot listen on {options.Host}:{options.Port}: {e.Message}");
                return 2;
            }
            log.LogInformation("listening on http://{Host}:{Port}", options.Host, options.Port);
            await app.WaitForShutdownAsync();
            await app.DisposeAsync();
        }
        log.LogInformation("stopped");
        return 0;
    }
}
