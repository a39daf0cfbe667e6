using System.ClientModel;
using System.Net;
using OnnxLm.Tests.Fixtures;
using OpenAI.Chat;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Refusals as the OpenAI .NET SDK surfaces them: every non-2xx answer becomes a <see cref="ClientResultException"/> with
/// our status and our error message, whether the call streams or not; a full queue is a 429 with Retry-After, and the SDK's
/// own retry policy gets through once the queue drains.
/// </summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class OpenAiSdkErrorTests(ConformanceServerFixture fixture)
{
    static ChatMessage[] User(string text) => [new UserChatMessage(text)];

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Out_of_range_parameter_is_a_ClientResultException_with_status_400_and_our_message(bool stream)
    {
        var client = SdkClients.Chat(fixture.Server);
        var options = new ChatCompletionOptions { Temperature = 7f, MaxOutputTokenCount = 3 };
        var e = await Assert.That(async () =>
        {
            if (stream) await foreach (var _ in client.CompleteChatStreamingAsync(User("hi"), options)) { }
            else await client.CompleteChatAsync(User("hi"), options);
        }).Throws<ClientResultException>();
        await Assert.That(e!.Status).IsEqualTo(400);
        await Assert.That(e.Message).Contains("temperature must be in [0, 2]");
    }

    [Test]
    public async Task Unknown_model_is_a_ClientResultException_with_status_404()
    {
        var client = SdkClients.Chat(fixture.Server, model: "gpt-17");
        var e = await Assert.That(async () => await client.CompleteChatAsync(User("hi"), new ChatCompletionOptions { MaxOutputTokenCount = 3 }))
            .Throws<ClientResultException>();
        await Assert.That(e!.Status).IsEqualTo(404);
        await Assert.That(e.Message).Contains("gpt-17");
        await Assert.That(e.Message).Contains("model_not_found");
    }

    [Test]
    public async Task A_tool_choice_naming_no_tool_is_a_ClientResultException_with_status_400_naming_tool_choice()
    {
        var client = SdkClients.Chat(fixture.Server);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 3, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_time") };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Weather for a city"));
        var e = await Assert.That(async () => await client.CompleteChatAsync(User("weather?"), options)).Throws<ClientResultException>();
        await Assert.That(e!.Status).IsEqualTo(400);
        await Assert.That(e.Message).Contains("tool_choice");
        await Assert.That(e.Message).Contains("get_time");
    }

    [Test]
    public async Task Full_queue_is_a_ClientResultException_with_status_429_and_retry_after()
    {
        await using var full = await FullQueueServer.StartAsync();
        var client = SdkClients.Chat(full.Server, maxRetries: 0);
        var e = await Assert.That(async () => await client.CompleteChatAsync(User("one more"), new ChatCompletionOptions { MaxOutputTokenCount = 3 }))
            .Throws<ClientResultException>();
        await Assert.That(e!.Status).IsEqualTo((int)HttpStatusCode.TooManyRequests);
        var raw = e.GetRawResponse();
        await Assert.That(raw).IsNotNull();
        await Assert.That(raw!.Headers.TryGetValue("Retry-After", out string? retryAfter)).IsTrue();
        await Assert.That(int.Parse(retryAfter!, System.Globalization.CultureInfo.InvariantCulture)).IsGreaterThanOrEqualTo(1);
        await Assert.That(full.Server.RateLimitedResponses).IsEqualTo(1);

        full.Release();
        await EngineIdle.WaitAsync(full.Server.Engine, "held requests finish once the gate opens");
        ChatCompletion after = await client.CompleteChatAsync(User("now"), new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        await Assert.That(after.Usage.OutputTokenCount).IsGreaterThan(0);
    }

    [Test]
    public async Task Sdk_retry_policy_retries_the_429_and_succeeds_once_the_queue_drains()
    {
        await using var full = await FullQueueServer.StartAsync();
        var client = SdkClients.Chat(full.Server, maxRetries: 3);
        var call = client.CompleteChatAsync(User("patient"), new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        // The first attempt is refused; only then does the queue drain, so success proves the SDK came back.
        await EngineIdle.UntilAsync(() => full.Server.RateLimitedResponses >= 1, "the first attempt is refused");
        full.Release();
        ChatCompletion completion = await call;
        await Assert.That(completion.Usage.OutputTokenCount).IsGreaterThan(0);
        await Assert.That(full.Server.RateLimitedResponses).IsGreaterThanOrEqualTo(1);
    }
}
