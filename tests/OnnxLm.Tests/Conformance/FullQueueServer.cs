using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// A server whose queue is deterministically full: one row (<c>--max-batch-size 1</c>), a one-request queue
/// (<c>--max-queue 1</c>), both taken by streaming requests parked behind a closed gate in front of every model run. Any
/// further request gets 429 until <see cref="Release"/> opens the gate and the parked requests finish.
/// </summary>
internal sealed class FullQueueServer : IAsyncDisposable
{
    readonly ManualResetEventSlim gate;
    readonly HttpClient http;
    readonly HttpResponseMessage[] holders;

    FullQueueServer(OnnxLmServer server, ManualResetEventSlim gate, HttpClient http, HttpResponseMessage[] holders)
    {
        Server = server;
        this.gate = gate;
        this.http = http;
        this.holders = holders;
    }

    public OnnxLmServer Server { get; }

    public static async Task<FullQueueServer> StartAsync()
    {
        var server = await ServerFixture.StartDedicatedAsync(o => { o.MaxBatchSize = 1; o.MaxQueue = 1; });
        var gate = new ManualResetEventSlim(false);
        server.Engine.BeforeRun = _ => gate.Wait();
        var http = ServerFixture.CreateClient(server);
        const string body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hold\"}],\"max_tokens\":4,\"stream\":true}";
        var first = await OpenAiWire.PostAsync(http, "/v1/chat/completions", body);
        await EngineIdle.UntilAsync(() => server.Engine.WaitingRequests == 0 && server.Engine.RowOwners()[0] != 0, "the first request holds the row");
        var second = await OpenAiWire.PostAsync(http, "/v1/chat/completions", body);
        await EngineIdle.UntilAsync(() => server.Engine.WaitingRequests == 1, "the second request waits");
        return new FullQueueServer(server, gate, http, [first, second]);
    }

    /// <summary>Lets the parked requests run to their end, which empties the queue.</summary>
    public void Release() => gate.Set();

    public async ValueTask DisposeAsync()
    {
        gate.Set();
        foreach (var h in holders) h.Dispose();
        http.Dispose();
        await Server.DisposeAsync();
        gate.Dispose();
    }
}
