using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OpenAI.Chat;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// A .NET client that stops listening, the ways SDK users do it (leaving an <c>await foreach</c> early, which disposes the
/// stream; cancelling the token of a streaming or a non-streaming call), cancels the sequence: its row is freed long
/// before the request could have finished on its own. Each test slows the engine on a server of its own.
/// </summary>
public class OpenAiSdkCancellationTests
{
    const int MaxTokens = 450;

    public enum StopListening { BreakOutOfStream, CancelStreamToken, CancelNonStreamToken }

    static async Task<OnnxLmServer> SlowServerAsync()
    {
        var server = await ServerFixture.StartDedicatedAsync();
        // ~10 ms per step: an uncancelled request would run for several seconds.
        server.Engine.BeforeRun = _ => Thread.Sleep(10);
        return server;
    }

    [Test]
    [Arguments(StopListening.BreakOutOfStream)]
    [Arguments(StopListening.CancelStreamToken)]
    [Arguments(StopListening.CancelNonStreamToken)]
    public async Task Client_that_stops_listening_frees_the_engine_row(StopListening how)
    {
        await using var server = await SlowServerAsync();
        var engine = server.Engine;
        var client = SdkClients.Chat(server);
        var options = SdkClients.Greedy(server, MaxTokens);
        ChatMessage[] messages = [new UserChatMessage("tell a long story")];
        using var cts = new CancellationTokenSource();

        switch (how)
        {
            case StopListening.BreakOutOfStream:
                {
                    int updates = 0;
                    await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
                        if (++updates == 4) break;
                    await Assert.That(updates).IsEqualTo(4);
                    break;
                }
            case StopListening.CancelStreamToken:
                {
                    int updates = 0;
                    await Assert.That(async () =>
                    {
                        await foreach (var update in client.CompleteChatStreamingAsync(messages, options, cts.Token))
                            if (++updates == 4) await cts.CancelAsync();
                    }).Throws<OperationCanceledException>();
                    await Assert.That(updates).IsEqualTo(4);
                    break;
                }
            case StopListening.CancelNonStreamToken:
                {
                    var call = client.CompleteChatAsync(messages, options, cts.Token);
                    await EngineIdle.UntilAsync(() => engine.GeneratedTokensTotal >= 3, "generation started");
                    await cts.CancelAsync();
                    await Assert.That(async () => await call).Throws<OperationCanceledException>();
                    break;
                }
        }
        await EngineIdle.WaitAsync(engine, "the client stopped listening");
        // Cut short, not run to max_tokens.
        await Assert.That(engine.GeneratedTokensTotal).IsLessThan(MaxTokens);
    }
}
