using System.ClientModel;
using System.ClientModel.Primitives;
using OnnxLm.Hosting;
using OpenAI;
using OpenAI.Chat;

namespace OnnxLm.Tests.Conformance;

/// <summary>The official OpenAI .NET SDK pointed at an in-process server, configured the way a user would: a custom
/// endpoint ending in <c>/v1</c> and a dummy key. Retries are off unless asked for, so a test sees each answer.</summary>
internal static class SdkClients
{
    public static readonly ApiKeyCredential DummyKey = new("sk-onnxlm-test");

    public static OpenAIClientOptions Options(OnnxLmServer server, int maxRetries = 0) => new()
    {
        Endpoint = new Uri(server.BaseAddress, "v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries),
        NetworkTimeout = TimeSpan.FromSeconds(120),   // hang guard only
    };

    public static ChatClient Chat(OnnxLmServer server, string? model = null, int maxRetries = 0) =>
        new(model ?? server.Engine.ModelId, DummyKey, Options(server, maxRetries));

    /// <summary>Greedy options that cannot stop early on EOS (the tiny random model emits it at random): logit_bias -100
    /// on every EOS id, a standard OpenAI parameter, so the SDK sends it as is.</summary>
    public static ChatCompletionOptions Greedy(OnnxLmServer server, int maxTokens)
    {
        var options = NoEos(server);
        options.Temperature = 0f;
        options.MaxOutputTokenCount = maxTokens;
        return options;
    }

    /// <summary>Only the EOS logit_bias, nothing else set (adapters fill in the rest).</summary>
    public static ChatCompletionOptions NoEos(OnnxLmServer server)
    {
        var options = new ChatCompletionOptions();
        foreach (int eos in server.Engine.Contract.Config.EosTokenIds) options.LogitBiases[eos] = -100;
        return options;
    }
}
