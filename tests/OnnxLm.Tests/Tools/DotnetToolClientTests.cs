using System.ComponentModel;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OnnxLm.Tests.Conformance;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// Tool calling through the official .NET clients on a Qwen 2.5-vocabulary model: the OpenAI SDK's streaming tool-call
/// updates assemble to the non-streamed calls and a <see cref="ToolChatMessage"/> round trip renders; Microsoft.Extensions.AI's
/// <c>UseFunctionInvocation</c> invokes a parameterless tool and a named one with arguments it can bind, and
/// <c>AllowMultipleToolCalls = false</c> yields one call.
/// </summary>
[ClassDataSource<ToolServer>(Shared = SharedType.PerTestSession)]
public class DotnetToolClientTests(ToolServer server)
{
    static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Current weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"],"additionalProperties":false}"""),
        functionSchemaIsStrict: true);

    static readonly ChatTool Now = ChatTool.CreateFunctionTool("now", "The time");

    static ChatCompletionOptions Options(int seed, ChatToolChoice choice)
    {
        var options = new ChatCompletionOptions { Temperature = 1f, MaxOutputTokenCount = 400, ToolChoice = choice, AllowParallelToolCalls = false };
#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK
        options.Seed = seed;
#pragma warning restore OPENAI001
        options.Tools.Add(Weather);
        options.Tools.Add(Now);
        return options;
    }

    [Test]
    public async Task OpenAI_SDK_streaming_tool_call_updates_assemble_to_the_non_streamed_calls()
    {
        var client = SdkClients.Chat(server.Server);
        int finished = 0;
        for (int seed = 1; seed <= 3; seed++)
        {
            List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("Weather in Paris?")];
            ChatCompletion whole = await client.CompleteChatAsync(messages, Options(seed, ChatToolChoice.CreateRequiredChoice()));
            var ids = new Dictionary<int, string>();
            var names = new Dictionary<int, string>();
            var args = new Dictionary<int, StringBuilder>();
            OpenAI.Chat.ChatFinishReason? finish = null;
            await foreach (var update in client.CompleteChatStreamingAsync(messages, Options(seed, ChatToolChoice.CreateRequiredChoice())))
            {
                finish ??= update.FinishReason;
                foreach (var call in update.ToolCallUpdates)
                {
                    if (call.ToolCallId is { } id) ids[call.Index] = id;
                    if (call.FunctionName is { } name)
                    {
                        await Assert.That(names.ContainsKey(call.Index)).IsFalse().Because("the name comes once");
                        names[call.Index] = name;
                    }
                    if (!args.TryGetValue(call.Index, out var sb)) args[call.Index] = sb = new StringBuilder();
                    if (call.FunctionArgumentsUpdate is { } piece) sb.Append(piece.ToString());
                }
            }
            await Assert.That(finish).IsEqualTo(whole.FinishReason);
            if (whole.FinishReason != OpenAI.Chat.ChatFinishReason.ToolCalls) continue;
            finished++;
            await Assert.That(whole.ToolCalls.Count).IsEqualTo(1);
            await Assert.That(names.Count).IsEqualTo(1);
            var expected = whole.ToolCalls[0];
            await Assert.That(names[0]).IsEqualTo(expected.FunctionName);
            await Assert.That(args[0].ToString()).IsEqualTo(expected.FunctionArguments.ToString());
            await Assert.That(ids[0]).StartsWith("call_");
            using var parsed = JsonDocument.Parse(expected.FunctionArguments.ToString());
            if (expected.FunctionName == "now") await Assert.That(expected.FunctionArguments.ToString()).IsEqualTo("{}");
            else await Assert.That(parsed.RootElement.GetProperty("unit").GetString()).IsIn("celsius", "fahrenheit");

            // The round trip: the assistant's calls and a ToolChatMessage per call go back through the template.
            messages.Add(new AssistantChatMessage(whole));
            foreach (var call in whole.ToolCalls) messages.Add(new ToolChatMessage(call.Id, """{"temperature":21}"""));
            ChatCompletion next = await client.CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 8, Tools = { Weather, Now }, ToolChoice = ChatToolChoice.CreateNoneChoice() });
            await Assert.That(next.ToolCalls.Count).IsEqualTo(0);
            await Assert.That(next.Usage.InputTokenCount).IsGreaterThan(whole.Usage.InputTokenCount);
        }
        await Assert.That(finished).IsGreaterThan(0);
    }

    enum Unit { Celsius, Fahrenheit }

    [Test]
    public async Task Extensions_AI_function_invocation_runs_a_parameterless_tool_and_a_named_tool_with_arguments()
    {
        IChatClient client = new ChatClientBuilder(SdkClients.Chat(server.Server).AsIChatClient()).UseFunctionInvocation().Build();
        int clockCalls = 0;
        var clock = AIFunctionFactory.Create(() => { clockCalls++; return "12:00"; }, "now", "The time");
        var response = await client.GetResponseAsync("What time is it?", new ChatOptions
        {
            Tools = [clock],
            ToolMode = ChatToolMode.RequireSpecific("now"),
            Temperature = 1f,
            Seed = 3,
            MaxOutputTokens = 40,
            AllowMultipleToolCalls = false,
        });
        await Assert.That(clockCalls).IsEqualTo(1);
        var call = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
        await Assert.That(call.Name).IsEqualTo("now");
        await Assert.That(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Single().CallId).IsEqualTo(call.CallId);

        var seen = new List<(Unit, bool)>();
        var alerts = AIFunctionFactory.Create(([Description("unit")] Unit unit, bool severe) => { seen.Add((unit, severe)); return "none"; }, "alerts", "Weather alerts");
        for (int seed = 1; seed <= 3; seed++)
        {
            await client.GetResponseAsync([new AiChatMessage(ChatRole.User, "Any alerts?")], new ChatOptions
            {
                Tools = [clock, alerts],
                ToolMode = ChatToolMode.RequireSpecific("alerts"),
                Temperature = 1f,
                Seed = seed,
                MaxOutputTokens = 200,
                AllowMultipleToolCalls = false,
            });
        }
        // Every required call bound its arguments (an enum and a bool) and ran.
        await Assert.That(seen.Count).IsEqualTo(3);
    }

    [Test]
    public async Task Extensions_AI_required_any_tool_without_multiple_calls_makes_exactly_one_call()
    {
        IChatClient client = SdkClients.Chat(server.Server).AsIChatClient();
        var clock = AIFunctionFactory.Create(() => "12:00", "now", "The time");
        var alerts = AIFunctionFactory.Create((Unit unit, bool severe) => "none", "alerts", "Weather alerts");
        for (int seed = 1; seed <= 3; seed++)
        {
            var response = await client.GetResponseAsync("Anything?", new ChatOptions
            {
                Tools = [clock, alerts],
                ToolMode = ChatToolMode.RequireAny,
                Temperature = 1f,
                Seed = seed,
                MaxOutputTokens = 200,
                AllowMultipleToolCalls = false,
            });
            await Assert.That(response.FinishReason).IsEqualTo(Microsoft.Extensions.AI.ChatFinishReason.ToolCalls);
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            await Assert.That(calls.Count).IsEqualTo(1);
            await Assert.That(calls[0].Name).IsIn("now", "alerts");
            if (calls[0].Name == "alerts")
            {
                await Assert.That(calls[0].Arguments!.ContainsKey("unit")).IsTrue();
                await Assert.That(calls[0].Arguments!.ContainsKey("severe")).IsTrue();
            }
        }
    }
}
