using System.Net;
using OnnxLm.Load.Client;
using OnnxLm.Load.Running;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Tests.Load;

/// <summary>The runner against an in-memory server: exact request budgets, the concurrency bound, duration limits,
/// failures reported per request, and multi-turn answers fed back.</summary>
public class LoadRunnerTests
{
    static readonly Uri Base = new("http://127.0.0.1:1/");

    static StreamingClient Client(FakeStreamingServer server) =>
        new(server, Base, new RequestOptions(null, 0, IgnoreEos: true, Seed: null), TimeSpan.FromSeconds(30));

    static Workload Random(int seed = 1) =>
        new RandomWorkload(new PromptSource(EndpointKind.Chat, false, 0, 1), LengthSpec.Fixed(8), LengthSpec.Fixed(4), seed);

    [Test]
    [Arguments(1)]
    [Arguments(3)]
    [Arguments(16)]
    public async Task Closed_loop_sends_exactly_the_budget_with_at_most_n_in_flight(int concurrency)
    {
        var server = new FakeStreamingServer(tokens: 6);
        using var client = Client(server);
        var results = await new LoadRunner(client, Random(), new RunLimits(10, null)).RunAsync(Arrival.Closed(concurrency), 1, null, CancellationToken.None);
        await Assert.That(results.Count).IsEqualTo(10);
        await Assert.That(server.Bodies.Count).IsEqualTo(10);
        await Assert.That(server.MaxInFlight).IsLessThanOrEqualTo(concurrency);
        foreach (var r in results)
        {
            await Assert.That(r.Ok).IsTrue();
            await Assert.That(r.OutputTokens).IsEqualTo(6);
            await Assert.That(r.TextChunks).IsEqualTo(6);          // the role chunk is not a token
            await Assert.That(r.InterTokenMs.Count).IsEqualTo(5);
            await Assert.That(r.CachedTokens).IsEqualTo(3);
            await Assert.That(r.TtftMs).IsLessThanOrEqualTo(r.E2eMs);
        }
    }

    [Test]
    public async Task Poisson_arrivals_stop_at_the_budget()
    {
        var server = new FakeStreamingServer(tokens: 2, delayMs: 1);
        using var client = Client(server);
        var results = await new LoadRunner(client, Random(), new RunLimits(12, null)).RunAsync(Arrival.Poisson(400), 5, null, CancellationToken.None);
        await Assert.That(results.Count).IsEqualTo(12);
        await Assert.That(server.Bodies.Count).IsEqualTo(12);
    }

    [Test]
    public async Task Duration_limit_ends_the_run_by_itself()
    {
        var server = new FakeStreamingServer(tokens: 2, delayMs: 20);
        using var client = Client(server);
        var started = DateTime.UtcNow;
        var results = await new LoadRunner(client, Random(), new RunLimits(int.MaxValue, TimeSpan.FromMilliseconds(200)))
            .RunAsync(Arrival.Closed(2), 1, null, CancellationToken.None);
        await Assert.That(DateTime.UtcNow - started).IsLessThan(TimeSpan.FromSeconds(5));
        await Assert.That(results.Count).IsGreaterThan(0);
        await Assert.That(results.Count).IsLessThan(100);
    }

    [Test]
    public async Task Http_errors_become_failed_results_with_the_status()
    {
        var server = new FakeStreamingServer(tokens: 2, failStatus: HttpStatusCode.TooManyRequests);
        using var client = Client(server);
        var results = await new LoadRunner(client, Random(), new RunLimits(3, null)).RunAsync(Arrival.Closed(1), 1, null, CancellationToken.None);
        await Assert.That(results.Count).IsEqualTo(3);
        await Assert.That(results[0].Ok).IsFalse();
        await Assert.That(results[0].Error!).StartsWith("HTTP 429");
    }

    [Test]
    public async Task Multi_turn_feeds_each_streamed_answer_into_the_next_request()
    {
        var server = new FakeStreamingServer(tokens: 3);
        using var client = Client(server);
        var workload = new MultiTurnWorkload(turns: 2, LengthSpec.Fixed(4), LengthSpec.Fixed(4), LengthSpec.Fixed(3), seed: 2);
        var results = await new LoadRunner(client, workload, new RunLimits(2, null)).RunAsync(Arrival.Closed(1), 1, null, CancellationToken.None);
        await Assert.That(results.Count).IsEqualTo(2);
        await Assert.That(server.Bodies[1]).Contains("\"role\":\"assistant\",\"content\":\"t0 t1 t2 \"");
        await Assert.That(results[1].PromptTokens).IsEqualTo(3);   // the fake reports the message count
    }
}
