using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.Http;

/// <summary>A dedicated server with two --api-key keys, an --api-key-file, --metrics-require-key, one --cors-origin and
/// --served-model-name house-model.</summary>
public sealed class SecuredServerFixture : IAsyncInitializer, IAsyncDisposable
{
    public const string Origin = "http://chat.example";
    readonly string keyFile = Path.Combine(Path.GetTempPath(), $"onnxlm-keys-{Guid.NewGuid():N}.txt");
    OnnxLmServer? server;
    HttpClient? client;

    public OnnxLmServer Server => server ?? throw new InvalidOperationException("the fixture is not initialized");
    public HttpClient Client => client ?? throw new InvalidOperationException("the fixture is not initialized");

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(keyFile, "# team keys\n\nkey-from-file\n");
        server = await ServerFixture.StartDedicatedAsync(o =>
        {
            o.ApiKeys.Add("key-one");
            o.ApiKeys.Add("key-two");
            o.ApiKeyFile = keyFile;
            o.MetricsRequireKey = true;
            o.CorsOrigins.Add(Origin);
            o.ServedModelName = "house-model";
        });
        client = ServerFixture.CreateClient(server);
    }

    public async ValueTask DisposeAsync()
    {
        client?.Dispose();
        if (server is not null) await server.DisposeAsync();
        File.Delete(keyFile);
    }
}
