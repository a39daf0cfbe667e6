using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// One server on a random-weight model with Qwen 2.5's real vocabulary and chat template (Hermes tool calls, with
/// <c>&lt;tool_call&gt;</c> an added token), shared by the tool-calling HTTP tests.
/// </summary>
public sealed class ToolServer : IAsyncInitializer, IAsyncDisposable
{
    public OnnxLmServer Server { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public string ModelDir { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ModelDir = await RealFamilies.Qwen25.ModelAsync(contextLength: 2048);
        Server = await ServerFixture.StartDedicatedAsync(o => o.Model = ModelDir);
        Client = ServerFixture.CreateClient(Server);
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
    }
}
