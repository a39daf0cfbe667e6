using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// The conformance suite's own shared server (tiny fp32 model, default options), separate from <see cref="ServerFixture"/>:
/// the prefix cache and row affinity make usage.cached_tokens depend on earlier traffic, so the client-driven tests here
/// must not add traffic to the server other suites assert fresh-server numbers on.
/// </summary>
public sealed class ConformanceServerFixture : IAsyncInitializer, IAsyncDisposable
{
    OnnxLmServer? server;
    HttpClient? client;

    public OnnxLmServer Server => server ?? throw new InvalidOperationException("the fixture is not initialized");
    public HttpClient Client => client ?? throw new InvalidOperationException("the fixture is not initialized");
    public string ModelDir => TestModels.TinyFp32;

    public async Task InitializeAsync()
    {
        server = await ServerFixture.StartDedicatedAsync();
        client = ServerFixture.CreateClient(server);
    }

    public async ValueTask DisposeAsync()
    {
        client?.Dispose();
        if (server is not null) await server.DisposeAsync();
    }
}
