using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxLm.Baseline;

// The baseline a C# developer would write first: GenAI's Generator behind a minimal OpenAI endpoint, one request at a
// time. It exists to be measured against onnxlm by perf/OnnxLm.Load's compare mode.
BaselineOptions options;
try
{
    options = BaselineOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"OnnxLm.Baseline: {e.Message}\n{BaselineOptions.Usage}");
    return 2;
}

using var oga = new OgaHandle();
using var model = new GenAiModel(options.ModelDir, options.Threads);

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(options.Host, options.Port));
var app = builder.Build();
app.MapGet("/health", () => Results.Text("{\"status\":\"ok\"}", "application/json"));
app.MapGet("/v1/models", () => Results.Text($$"""{"object":"list","data":[{"id":"{{model.Name}}","object":"model","owned_by":"baseline"}]}""", "application/json"));
app.MapPost("/v1/chat/completions", (HttpContext http) => CompletionEndpoint.HandleAsync(http, model, chat: true));
app.MapPost("/v1/completions", (HttpContext http) => CompletionEndpoint.HandleAsync(http, model, chat: false));
Console.WriteLine($"baseline: GenAI Generator serving {options.ModelDir} on http://{options.Host}:{options.Port} (one request at a time)");
await app.RunAsync();
return 0;
