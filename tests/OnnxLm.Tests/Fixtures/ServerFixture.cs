using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Cli;
using OnnxLm.Hosting;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.Fixtures;

/// <summary>
/// One real onnxlm server on <see cref="TestModels.TinyFp32"/>, listening on 127.0.0.1 with a dynamic port and shared
/// by every HTTP test of the session (<c>[ClassDataSource&lt;ServerFixture&gt;(Shared = SharedType.PerTestSession)]</c>).
/// Tests that need special options or hooks into the engine start their own with <see cref="StartDedicatedAsync"/>.
/// </summary>
public sealed class ServerFixture : IAsyncInitializer, IAsyncDisposable
{
    OnnxLmServer? server;
    HttpClient? client;

    public OnnxLmServer Server => server ?? throw new InvalidOperationException("the fixture is not initialized");
    public HttpClient Client => client ?? throw new InvalidOperationException("the fixture is not initialized");
    public string ModelDir => TestModels.TinyFp32;

    public async Task InitializeAsync()
    {
        server = await StartDedicatedAsync();
        client = CreateClient(server);
    }

    /// <summary>Starts a server of its own on the tiny fp32 model; <paramref name="configure"/> adjusts the options.</summary>
    public static async Task<OnnxLmServer> StartDedicatedAsync(Action<ServeOptions>? configure = null)
    {
        // No SSD tier unless a test asks for one with its own directory: tests never write to the user's cache.
        // No huge-page pass: it would walk the whole test process's memory after every server start, racing the other
        // tests (HugePagesTests' own collapse among them); HugePagesTests and the CI's AOT smoke cover it.
        var options = new ServeOptions { Model = TestModels.TinyFp32, Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false, HugePages = false };
        configure?.Invoke(options);
        var server = await OnnxLmServer.StartAsync(options, NullLoggerProvider.Instance);
        // The engine's warm-up run passes through Engine.BeforeRun like any other: a test that closes a gate there before
        // the warm-up ran would park the engine thread itself (seen under load), so hooks are only installed after it.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!server.Engine.IsReady)
        {
            if (DateTime.UtcNow > deadline)
            {
                await server.DisposeAsync();
                throw new TimeoutException("the engine did not finish its warm-up run within 30 s");
            }
            await Task.Delay(2);
        }
        return server;
    }

    /// <summary>A client for <paramref name="server"/> with a hang guard (tests never come near it).</summary>
    /// <param name="drainOnDispose">False: disposing an unread response closes the connection. By default
    /// SocketsHttpHandler instead reads up to 1 MB / 2 s of the rest to reuse the connection, which the server cannot
    /// tell from a client still listening.</param>
    public static HttpClient CreateClient(OnnxLmServer server, bool drainOnDispose = true)
    {
        var handler = new SocketsHttpHandler();
        if (!drainOnDispose) handler.MaxResponseDrainSize = 0;
        return new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
    }

    public async ValueTask DisposeAsync()
    {
        client?.Dispose();
        if (server is not null) await server.DisposeAsync();
    }
}
